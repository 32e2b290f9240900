// Jest cannot require() an ES module from CommonJS; @fastify/static (CJS) requires content-disposition 3 (ESM only).
// Under Jest only, the same library's last CommonJS release stands in, with v3's named export.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- a CommonJS shim
const contentDisposition = require('content-disposition-cjs');
module.exports = { create: contentDisposition, parse: contentDisposition.parse };
