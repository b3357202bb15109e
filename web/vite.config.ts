import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { defineConfig, type Plugin } from 'vite';
import react from '@vitejs/plugin-react';

// Next to each script and stylesheet of the build, its gzip form: `atumdesk serve` (aiohttp's
// FileResponse) sends it to browsers that accept gzip, and nginx can with gzip_static.
function gzipAssets(): Plugin {
  let outDir = 'dist';
  return {
    name: 'atum-gzip-assets',
    apply: 'build',
    configResolved(config) {
      outDir = config.build.outDir;
    },
    closeBundle() {
      const dir = join(outDir, 'assets');
      for (const name of readdirSync(dir)) {
        if (/\.(js|css|svg)$/.test(name)) {
          writeFileSync(join(dir, `${name}.gz`), gzipSync(readFileSync(join(dir, name)), { level: 9 }));
        }
      }
    },
  };
}

// The app is served by `atumdesk serve` (api/web_app.py): hashed files under /assets/ are cached
// for a year, the HTML shell never. In development, `npm run dev` proxies the API to a running
// server on port 8081.
export default defineConfig({
  plugins: [react(), gzipAssets()],
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    sourcemap: false,
    // Fonts stay files (never data: URIs inlined into CSS) so they are cached on their own.
    assetsInlineLimit: 0,
  },
  server: {
    proxy: {
      '/api': { target: 'http://127.0.0.1:8081', ws: true },
    },
  },
});
