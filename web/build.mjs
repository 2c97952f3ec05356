// Bundles the upload page (Uppy's dashboard over tus, plus our own script and style) into OUT (default dist/):
// index.html, app.js, app.css. Run by ingest's build script, which embeds the three files in the binary.
import * as esbuild from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';

const out = process.argv[2] || 'dist';
mkdirSync(out, { recursive: true });
await esbuild.build({
  entryPoints: ['src/app.js'],
  bundle: true,
  minify: true,
  target: ['es2020'],
  outdir: out,
  logLevel: 'warning',
  legalComments: 'eof',
});
copyFileSync('src/index.html', `${out}/index.html`);
