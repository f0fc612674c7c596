// Node.js peer: the http module echoing each request body, in one process.
// Like unixcorn's default mode, it answers once the whole body has arrived.
//   node echo.js SOCKET_PATH [KEEPALIVE_SECONDS]
'use strict';
const fs = require('fs');
const http = require('http');

const [socketPath, keepAlive = '5'] = process.argv.slice(2);

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    res.writeHead(200, {
      'Content-Type': req.headers['content-type'] || 'application/octet-stream',
      'Content-Length': body.length,
    });
    res.end(body);
  });
});
server.keepAliveTimeout = Number(keepAlive) * 1000;

fs.rmSync(socketPath, { force: true });
server.listen(socketPath);
process.on('SIGTERM', () => process.exit(0));
