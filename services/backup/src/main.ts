import './instrument.js';
import { bootstrapService } from '@continuity/runtime';
import { BackupModule } from './backup.module.js';
import { backupEnvSchema } from './backup.env.js';

void bootstrapService({ name: 'backup', defaultPort: 3001, module: BackupModule, envSchema: backupEnvSchema });
