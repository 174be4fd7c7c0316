import { out } from '../cli.output.js';
import { withContext } from '../cli.context.js';
import { formatBytes, table } from '../format.js';

export interface ListCommandOptions {
  config?: string;
  json?: boolean;
  limit?: string;
}

/** `continuity list [resource]`: backups newest first, as a table or JSON. */
export const listCommand = async (resource: string | undefined, options: ListCommandOptions) =>
  withContext(options, async (ctx) => {
    const records = await ctx.catalogue.list({ resource, limit: Number(options.limit ?? 50) });
    if (options.json) return void out(JSON.stringify(records));
    if (!records.length) return void out(resource ? `no backups of ${resource}` : 'no backups');
    out(
      table([
        ['BACKUP', 'RESOURCE', 'STATE', 'RECOVERY POINT', 'SIZE', 'COPIES', 'VERIFIED'],
        ...records.map((r) => [
          r.backupId,
          r.resource,
          r.state,
          r.recoveryPoint,
          r.sizeBytes === null ? formatBytes(r.bytesDone) : formatBytes(r.sizeBytes),
          String(r.state === 'created' ? r.copies.length : r.plannedCopies.length),
          r.verdict?.verdict ?? '-',
        ]),
      ]),
    );
  });
