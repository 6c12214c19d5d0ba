// Debian's Chromium driven by playwright-core (never a downloaded browser), headless with
// a fresh profile: the one launch every browser test uses.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const CONTENT_TYPES = { '.wasm': 'application/wasm', '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript' };

/** Answers an intercepted request with a file from disk, typed so the page accepts it
 * (`application/wasm` lets the wasm-bindgen glue stream-compile the module). */
export function fulfillFile(route, file) {
  return route.fulfill({ path: file, contentType: CONTENT_TYPES[path.extname(file)] ?? 'application/octet-stream' });
}

export async function launchChromium() {
  const executablePath = execFileSync('sh', ['-c', 'command -v chromium']).toString().trim();
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'sonde-chromium-'));
  return chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}
