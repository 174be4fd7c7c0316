import { bootstrapService } from '@continuity/runtime';
import { VerifierModule } from './verifier.module.js';

void bootstrapService({ name: 'verifier', defaultPort: 3002, module: VerifierModule });
