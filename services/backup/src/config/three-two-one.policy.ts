/** What 3-2-1 is judged on: where the resource lives and where each copy goes. Pure. */
export interface CopyPlacement {
  location: string;
  site: string;
  medium: string;
}

export type ThreeTwoOneRule = 'three-copies' | 'two-media' | 'one-offsite';

export interface FailedRule {
  rule: ThreeTwoOneRule;
  message: string;
}

/**
 * 3-2-1: at least 3 copies, on at least 2 media, at least 1 on a site other than the resource's
 * own. Returns every rule that fails (empty = compliant), each with a message an SRE can act on.
 */
export const checkThreeTwoOne = (resource: { name: string; site: string }, copies: readonly CopyPlacement[]): FailedRule[] => {
  const failed: FailedRule[] = [];
  const locations = new Set(copies.map((c) => c.location));
  if (locations.size < 3) {
    failed.push({ rule: 'three-copies', message: `needs at least 3 copies, has ${locations.size}${locations.size ? ` (${[...locations].join(', ')})` : ''}` });
  }
  const media = new Set(copies.map((c) => c.medium));
  if (media.size < 2) {
    failed.push({
      rule: 'two-media',
      message: media.size ? `needs at least 2 media, every copy is on ${[...media][0]}` : 'needs at least 2 media, has none',
    });
  }
  if (!copies.some((c) => c.site !== resource.site)) {
    failed.push({
      rule: 'one-offsite',
      message: `needs at least 1 copy off ${resource.name}'s own site ${resource.site}, every copy is there`,
    });
  }
  return failed;
};

export const describeFailedRules = (failed: readonly FailedRule[]) => failed.map((f) => `${f.rule}: ${f.message}`).join('; ');
