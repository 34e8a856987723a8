# The native EM pass (em_addon.cc), with one static library per instruction set, each compiled with
# its own flags (never -march=native: one build runs on any processor of its architecture, and
# em_addon.cc picks the best set the processor supports at run time).
{
  'target_defaults': {
    'cflags_cc': ['-O3', '-fPIC', '-ffp-contract=fast', '-fno-math-errno'],
    'xcode_settings': {
      'OTHER_CPLUSPLUSFLAGS': ['-O3', '-ffp-contract=fast', '-fno-math-errno'],
    },
  },
  'targets': [
    {
      'target_name': 'em_generic',
      'type': 'static_library',
      'sources': ['em_pass_generic.cc'],
    },
    {
      'target_name': 'lensemble_em',
      'sources': ['em_addon.cc'],
      'dependencies': ['em_generic'],
      'conditions': [
        ['target_arch == "x64"', {'dependencies': ['em_avx2', 'em_avx512']}],
      ],
    },
  ],
  'conditions': [
    ['target_arch == "x64"', {
      'targets': [
        {
          'target_name': 'em_avx2',
          'type': 'static_library',
          'sources': ['em_pass_avx2.cc'],
          'cflags_cc': ['-mavx2', '-mfma'],
          'xcode_settings': {'OTHER_CPLUSPLUSFLAGS': ['-mavx2', '-mfma']},
        },
        {
          'target_name': 'em_avx512',
          'type': 'static_library',
          'sources': ['em_pass_avx512.cc'],
          'cflags_cc': ['-mavx2', '-mfma', '-mavx512f', '-mavx512dq', '-mavx512vl', '-mavx512bw'],
          'xcode_settings': {'OTHER_CPLUSPLUSFLAGS': ['-mavx2', '-mfma', '-mavx512f', '-mavx512dq', '-mavx512vl', '-mavx512bw']},
        },
      ],
    }],
  ],
}
