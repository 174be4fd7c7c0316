import { pollUntil } from '@continuity/messaging/testing';
import { bearer } from '@continuity/runtime/testing';

/**
 * One backup through the backup service's API, as an operator asks for it: `POST /backups`, then
 * `GET /backups/:id` until the catalogue says created (every copy written, manifest, event
 * queued), asked every 50 ms (each answer is a request and a catalogue query in the service being
 * measured: not too often). Resolves with the wall time in ms, the stored size and the backup's id; a failed
 * backup rejects with its error.
 */
export const backupOverHttp = async (base: string, resource: string, what = `the backup of ${resource}`) => {
  const started = performance.now();
  const response = await fetch(`${base}/backups`, { method: 'POST', headers: { 'content-type': 'application/json', ...bearer('operator') }, body: JSON.stringify({ resource }) });
  if (response.status !== 202) throw new Error(`POST /backups: ${response.status} ${await response.text()}`);
  const { backupId } = (await response.json()) as { backupId: string };
  const done = await pollUntil(
    async () => {
      const b = (await (await fetch(`${base}/backups/${backupId}`, { headers: bearer('viewer') })).json()) as { state: string; sizeBytes: number; error: unknown };
      if (b.state === 'failed') throw new Error(`backup failed: ${JSON.stringify(b.error)}`);
      return b.state === 'created' ? b : null;
    },
    { what, timeoutMs: 1_800_000, intervalMs: 50 },
  );
  return { ms: performance.now() - started, sizeBytes: done.sizeBytes, backupId };
};
