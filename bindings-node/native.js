'use strict';
// Loads the native addon: the one built in this folder (`make node-addon`, a checkout), else
// the platform package npm installed beside this one (`sonde-<platform>-<arch>-<libc>`, an
// optional dependency, as napi-rs projects publish them). Anything else is a clear error.

const fs = require('node:fs');
const path = require('node:path');

/** `glibc` or `musl` on Linux (from the process report, as napi-rs's loaders do). */
function libc() {
  if (process.platform !== 'linux') return '';
  const header = process.report?.getReport?.().header;
  return header && header.glibcVersionRuntime ? 'gnu' : 'musl';
}

function platformName() {
  const suffix = process.platform === 'linux' ? `-${libc()}` : '';
  return `${process.platform}-${process.arch}${suffix}`;
}

/** Platforms a package is published for (the platform packages in `make dist`). */
const PUBLISHED = ['linux-x64-gnu'];

function load() {
  const local = path.join(__dirname, 'sonde.node');
  if (fs.existsSync(local)) return require(local);
  const platform = platformName();
  if (!PUBLISHED.includes(platform)) {
    const error = new Error(`sonde has no native addon for ${platform} (published for: ${PUBLISHED.join(', ')}); build it from source with \`make node-addon\``);
    error.name = 'SondeError';
    error.code = 'unsupported';
    throw error;
  }
  try {
    return require(`sonde-${platform}`);
  } catch (cause) {
    const error = new Error(`sonde's native addon for ${platform} is missing: install the optional dependency sonde-${platform} (npm installs it unless optional dependencies are omitted)`, { cause });
    error.name = 'SondeError';
    error.code = 'unsupported';
    throw error;
  }
}

module.exports = load();
