import './instrument.js';
import { bootstrapService } from '@continuity/runtime';
import { verifierEnvSchema } from './verifier.env.js';
import { VerifierModule } from './verifier.module.js';

void bootstrapService({ name: 'verifier', defaultPort: 3002, module: VerifierModule, envSchema: verifierEnvSchema });
