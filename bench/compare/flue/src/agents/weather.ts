// SPDX-License-Identifier: Apache-2.0
// The Flue side of the comparison: the same instructions and tool as
// ../../cppflue/agents/weather.cpp, on the benchmark's fake model (FAKE_BASE_URL).
'use agent';
import { createProvider } from '@earendil-works/pi-ai';
import { openAICompletionsApi } from '@earendil-works/pi-ai/api/openai-completions.lazy';
import { defineTool, setProvider, useModel, useTool } from '@flue/runtime';
import * as v from 'valibot';

setProvider(
  createProvider({
    id: 'fake',
    auth: { apiKey: { name: 'fake key', resolve: async () => ({ auth: { apiKey: 'sk-fake' } }) } },
    models: [
      {
        id: 'fake-model',
        name: 'Benchmark fake model',
        api: 'openai-completions',
        provider: 'fake',
        baseUrl: process.env.FAKE_BASE_URL ?? 'http://127.0.0.1:8787/v1',
        reasoning: false,
        input: ['text'],
        cost: { input: 0, output: 0, cacheRead: 0, cacheWrite: 0 },
        contextWindow: 128000,
        maxTokens: 4096,
      },
    ],
    api: openAICompletionsApi(),
  }),
);

const getWeather = defineTool({
  name: 'get_weather',
  description: 'Get the current weather for one city.',
  input: v.object({ city: v.string() }),
  async run({ data }) {
    return { output: { city: data.city, forecast: 'sunny', tempC: 21 } };
  },
});

export function Weather() {
  useModel('fake/fake-model');
  useTool(getWeather);
  return 'You are a weather assistant. Use the get_weather tool, then answer in one sentence.';
}
