// SPDX-License-Identifier: Apache-2.0
import { flue } from '@flue/vite';
import { defineConfig } from 'vite';

export default defineConfig({ plugins: [flue()] });
