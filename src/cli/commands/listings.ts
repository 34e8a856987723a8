import type { Command } from 'commander';
import { describeParams, type ParamDoc } from '../../heads/define.js';
import { heads } from '../../heads/registry.js';
import { memberFieldsSchema } from '../../ensemble/member-spec.js';
import { sourceKinds } from '../../sources/registry.js';
import { formatTable } from '../../evaluate/table.js';

const shown = (v: unknown): string => (v === undefined ? '-' : typeof v === 'string' ? v : JSON.stringify(v));

function paramTable(params: ParamDoc[]): string {
  return formatTable(['key', 'type', 'default', 'meaning'], params.map((p) => [p.name, p.type, shown(p.default), p.description]), ['left', 'left', 'left', 'left']);
}

/** `lensemble heads` and `lensemble members`: every key a member takes, generated from the schemas that check them. */
export function registerListings(program: Command): void {
  program
    .command('heads')
    .description('List the head kinds and every parameter each takes (set them in --member as key=value, or in a --config file).')
    .option('--json', 'print the listing as JSON')
    .action((flags: { json?: boolean }) => {
      const listing = heads.map((h) => ({ kind: h.kind, description: h.description, params: describeParams(h.params) }));
      if (flags.json) {
        process.stdout.write(JSON.stringify(listing, null, 2) + '\n');
        return;
      }
      for (const h of listing) process.stdout.write(`${h.kind} — ${h.description}\n${paramTable(h.params)}\n\n`);
      process.stdout.write('Example: --member mobilenetv2_100,head=svm,C=10,gamma=0.01   --member traces,head=random-forest,nEstimators=300\n');
    });
  program
    .command('members')
    .description('List the keys of a member (source[,key=value…]): the member\'s own, and those of each source kind.')
    .option('--json', 'print the listing as JSON')
    .action((flags: { json?: boolean }) => {
      const listing = {
        member: describeParams(memberFieldsSchema),
        sources: sourceKinds().map((k) => ({ kind: k.kind, description: k.description, augmentable: k.augmentable, defaultHead: k.defaultHead ?? null, settings: describeParams(k.settings) })),
      };
      if (flags.json) {
        process.stdout.write(JSON.stringify(listing, null, 2) + '\n');
        return;
      }
      process.stdout.write(`Member keys (any source):\n${paramTable(listing.member)}\n\n`);
      for (const k of listing.sources) {
        const notes = [k.augmentable ? '' : 'views and TTA do not apply', k.defaultHead ? `default head ${k.defaultHead}` : ''].filter(Boolean).join('; ');
        process.stdout.write(`Source ${k.kind} — ${k.description}${notes ? ` (${notes})` : ''}\n${paramTable(k.settings)}\n\n`);
      }
      process.stdout.write('Head keys: `lensemble heads`. Keys are routed to the member, then its source, then its head; an unknown key is an error naming what each takes.\n');
    });
}
