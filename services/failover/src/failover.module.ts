import { Module } from '@nestjs/common';
import { ConfigError, SERVICE_CONFIG } from '@continuity/runtime';
import { FailoverHttpController } from './failover-decision/failover.http.controller.js';
import { FailoverConfigError, loadFailoverConfig, NO_FAILOVER_CONFIG } from './config/failover-config.loader.js';
import { FailoverEventsListener } from './failover-decision/failover-events.listener.js';
import { FAILOVER_SETTINGS, FailoverSupervisors } from './failover-decision/failover.supervisors.js';
import type { FailoverEnv } from './failover.env.js';
import { RehearseFailoverOnDrillStepRequested } from './drills/drill-step-requested.listener.js';

@Module({
  controllers: [FailoverEventsListener, FailoverHttpController, RehearseFailoverOnDrillStepRequested],
  providers: [
    {
      provide: FAILOVER_SETTINGS,
      inject: [SERVICE_CONFIG],
      useFactory: async (env: FailoverEnv) => {
        if (!env.CONTINUITY_CONFIG) return NO_FAILOVER_CONFIG;
        try {
          return await loadFailoverConfig(env.CONTINUITY_CONFIG);
        } catch (error) {
          // A ConfigError stops the process with one plain message naming each bad key.
          if (error instanceof FailoverConfigError) {
            throw new ConfigError(error.problems.map((p) => ({ variable: `CONTINUITY_CONFIG ${error.file}: ${p.key}${p.line ? ` (line ${p.line})` : ''}`, message: p.message })));
          }
          throw error;
        }
      },
    },
    FailoverSupervisors,
  ],
})
export class FailoverModule {}
