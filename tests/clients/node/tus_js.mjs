// tus-js-client (the tus project's JavaScript client, the one inside Uppy) in Node, for tests/tus.rs.
//
//   node tus_js.mjs start  URL KEY FILE STOP_AT   uploads until STOP_AT bytes are confirmed, aborts, prints the URL
//   node tus_js.mjs resume URL KEY FILE UPLOAD    a fresh Upload resumes UPLOAD from the server's offset; prints
//                                                 {"offset", "media_id"} once it is finished
import { createReadStream, statSync } from 'node:fs';
import { Upload } from 'tus-js-client';

const [mode, url, key, path, arg] = process.argv.slice(2);
const size = statSync(path).size;

function upload(options) {
  return new Promise((resolve, reject) => {
    const u = new Upload(createReadStream(path), {
      endpoint: `${url}/v1/uploads`,
      headers: { Authorization: `Bearer ${key}` },
      uploadSize: size,
      chunkSize: 1024 * 1024,
      metadata: { filename: 'from-node.jpg' },
      retryDelays: [],
      onError: reject,
      ...options(resolve, () => u),
    });
    u.start();
  });
}

if (mode === 'start') {
  const stopAt = Number(arg);
  const at = await upload((resolve, self) => ({
    onChunkComplete: (_chunk, sent) => {
      if (sent >= stopAt) {
        self().abort().then(() => resolve(self().url));
      }
    },
    onSuccess: () => resolve(self().url),
  }));
  console.log(at);
} else if (mode === 'resume') {
  let mediaId = null;
  const offset = await upload((resolve, self) => ({
    uploadUrl: arg,
    onAfterResponse: (_req, res) => {
      mediaId = res.getHeader('Media-Id') || mediaId;
    },
    onSuccess: () => resolve(self()._offset ?? size),
  }));
  console.log(JSON.stringify({ offset, media_id: mediaId }));
} else {
  console.error(`unknown mode ${mode}`);
  process.exit(2);
}
