// Imported first by main.ts: OpenTelemetry's instrumentations patch pg, express and Nest as they
// load, so telemetry starts before anything else is required.
import { startTelemetry } from '@continuity/telemetry';

startTelemetry({ serviceName: 'failover' });
