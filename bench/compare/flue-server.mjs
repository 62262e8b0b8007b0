// SPDX-License-Identifier: Apache-2.0
// Starts the built Flue server (flue/dist) on 127.0.0.1:$PORT (its server.mjs would listen on
// every interface).
import { startFlueNodeServer } from './flue/dist/app.mjs';

await startFlueNodeServer({ port: Number(process.env.PORT), hostname: '127.0.0.1', quiet: true });
console.log(`flue listening on ${process.env.PORT}`);
