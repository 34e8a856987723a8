import type { ExtractItem } from '../features/extract.js';
import { sha256Buffer } from '../util/hash.js';

/** The views of one image still to extract. */
export interface ImageViews {
  item: ExtractItem;
  views: number[];
}

export interface PlannedShard {
  /** BullMQ job id: the same shard of the same store gets the same id in every run. */
  jobId: string;
  images: ImageViews[];
  /** Image × view pairs in the shard. */
  pairs: number;
}

/**
 * Cuts the images wanted into shards of about `shardSize` image × views (an image's views stay together: the
 * worker decodes it once for all of them). Shards are cut over every pair wanted, cached ones included, and
 * only then lose their cached pairs: a coordinator restarted after a kill cuts the same shards again, so the
 * jobs its first run left in the queue (or their results) are found by id instead of being extracted twice.
 */
export function planShards(keyId: string, wanted: ImageViews[], isCached: (contentHash: string, view: number) => boolean, shardSize: number): PlannedShard[] {
  const groups: ImageViews[][] = [];
  let group: ImageViews[] = [];
  let size = 0;
  for (const image of wanted) {
    if (size > 0 && size + image.views.length > shardSize) {
      groups.push(group);
      group = [];
      size = 0;
    }
    group.push(image);
    size += image.views.length;
  }
  if (group.length) groups.push(group);

  const shards: PlannedShard[] = [];
  for (const images of groups) {
    const missing = images
      .map(({ item, views }) => ({ item, views: views.filter((v) => !isCached(item.contentHash, v)) }))
      .filter((image) => image.views.length > 0);
    if (missing.length === 0) continue;
    const pairs = missing.reduce((n, image) => n + image.views.length, 0);
    const signature = missing.map(({ item, views }) => `${item.contentHash}:${views.join('.')}`).join(',');
    // A letter first: BullMQ refuses custom ids that look like integers.
    shards.push({ jobId: `s${sha256Buffer(`${keyId}|${signature}`).slice(0, 40)}`, images: missing, pairs });
  }
  return shards;
}
