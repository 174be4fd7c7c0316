import { BackupConfigError, loadBackupConfig } from '../../config/backup-config.loader.js';
import { CliError, out } from '../cli.output.js';

/** `continuity check-config [file]`: validates a policy file offline and shows each policy's copies and 3-2-1 status. */
export const checkConfigCommand = async (file: string | undefined) => {
  const path = file ?? process.env.CONTINUITY_CONFIG;
  if (!path) throw new CliError('no configuration file: pass one or set CONTINUITY_CONFIG', 2);
  try {
    const config = await loadBackupConfig(path);
    out(`${config.file}: ${config.resources.size} resources, ${config.locations.size} locations, ${config.policies.size} policies`);
    for (const p of config.policies.values()) {
      const compliance = p.threeTwoOneFailures.length ? `opts out of 3-2-1 (${p.threeTwoOneOptOut}): ${p.threeTwoOneFailures.map((f) => f.message).join('; ')}` : 'meets 3-2-1';
      out(`  ${p.name}: ${p.resourceName} → ${p.copies.map((c) => `${c.name} (${c.location.site}, ${c.location.medium})`).join(', ')}; ${compliance}`);
    }
  } catch (error) {
    if (error instanceof BackupConfigError) throw new CliError(error.message, 2);
    throw error;
  }
};
