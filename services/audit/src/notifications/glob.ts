/**
 * Resource-name globs for notification routes: `*` any run of characters, `?` one character,
 * everything else literal (resource names are letters, digits, `_`, `-`). Pure.
 */
export const GLOB_PATTERN = /^[A-Za-z0-9_*?-]{1,128}$/;

export const globMatches = (glob: string, name: string): boolean => {
  // Iterative wildcard match with one backtrack point: linear in practice, no regex built from input.
  let g = 0;
  let n = 0;
  let star = -1;
  let resume = 0;
  while (n < name.length) {
    if (g < glob.length && (glob[g] === '?' || glob[g] === name[n])) {
      g++;
      n++;
    } else if (g < glob.length && glob[g] === '*') {
      star = g++;
      resume = n;
    } else if (star >= 0) {
      g = star + 1;
      n = ++resume;
    } else {
      return false;
    }
  }
  while (g < glob.length && glob[g] === '*') g++;
  return g === glob.length;
};
