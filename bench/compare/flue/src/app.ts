// SPDX-License-Identifier: Apache-2.0
// The Flue server: the weather agent at /agents/weather/:id and GET /health.
import { createAgentRouter } from '@flue/runtime/routing';
import { Hono } from 'hono';
import { Weather } from './agents/weather.ts';

const app = new Hono();
app.get('/health', (c) => c.text('ok'));
app.route('/agents/weather', createAgentRouter(Weather));
export default app;
