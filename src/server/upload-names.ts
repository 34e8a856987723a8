/** A display name from a client-supplied file name: no folders, no control characters, bounded length. */
export function cleanName(raw: string | undefined, fallback: string): string {
  const base = (raw ?? '').split(/[\\/]/).pop() ?? '';
  const clean = base.replace(/[\u0000-\u001f\u007f]/g, '').trim().slice(0, 200);
  return clean || fallback;
}

/** Makes names unique within one request: a, a (2), a (3)… (the web page does the same before sending). */
export function uniqueNames(): (name: string) => string {
  const seen = new Set<string>();
  return (name) => {
    let candidate = name;
    for (let k = 2; seen.has(candidate); k++) candidate = `${name} (${k})`;
    seen.add(candidate);
    return candidate;
  };
}
