// Starts one of the two reference atproto servers for the tests in this folder:
//
//   node serve.mjs plc   PLC directory, in memory (REALPDS_PLC_PORT)
//   node serve.mjs pds   PDS, configured from PDS_* variables like
//                        atproto's services/pds/index.js does
//
// Both listen on 127.0.0.1 only: neither server takes a host to bind (each
// calls express's app.listen(port), i.e. every interface), so this launcher
// hands the host to that listen call. When a server is listening this prints
// one line, "REALPDS READY <kind> <port>", which the harness waits for.
//
// The process stops (closing its server first) on SIGTERM or SIGINT, and also
// when its standard input closes: the harness keeps a pipe to it open, so a
// harness killed without cleaning up leaves no server behind.

import { enableCompileCache } from 'node:module'
import { fileURLToPath } from 'node:url'

const HOST = '127.0.0.1'

// Loading the PDS compiles a lot of JavaScript: keep the compiled code between
// runs (about a second less per start), beside the packages it comes from.
enableCompileCache?.(fileURLToPath(new URL('./node_modules/.cache/compile', import.meta.url)))

const kind = process.argv[2]

// Make `app.listen(port)` bind loopback only.
const bindLoopback = (app) => {
  const listen = app.listen
  app.listen = function (port, ...rest) {
    return listen.call(this, port, HOST, ...rest)
  }
}

const startPlc = async () => {
  const { default: plc } = await import('@did-plc/server')
  const port = Number(process.env.REALPDS_PLC_PORT ?? 0)
  const server = plc.PlcServer.create({ db: plc.Database.mock(), port })
  bindLoopback(server.app)
  const httpServer = await server.start()
  return { server, port: httpServer.address().port }
}

const startPds = async () => {
  const { PDS, envToCfg, envToSecrets, readEnv } = await import('@atproto/pds')
  const env = readEnv()
  const cfg = envToCfg(env)
  const secrets = envToSecrets(env)
  const server = await PDS.create(cfg, secrets)
  bindLoopback(server.app)
  const httpServer = await server.start()
  return { server, port: httpServer.address().port }
}

let server = null
let stopping = false

// Registered before the (slow) start, so a harness that dies during it leaves nothing.
const stop = async (why) => {
  if (stopping) return
  stopping = true
  console.log(`REALPDS STOPPING ${kind} (${why})`)
  setTimeout(() => process.exit(0), 5000).unref() // never hang on the way out
  try {
    await server?.destroy()
  } catch (err) {
    console.error(`REALPDS ${kind} stop error: ${err}`)
  }
  process.exit(0)
}

const main = async () => {
  if (kind !== 'plc' && kind !== 'pds') {
    console.error('usage: node serve.mjs plc|pds')
    process.exit(2)
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
  process.stdin.on('end', () => stop('stdin closed'))
  process.stdin.on('error', () => stop('stdin error'))
  process.stdin.resume()

  const started = kind === 'plc' ? await startPlc() : await startPds()
  server = started.server
  if (stopping) {
    // Asked to stop while starting: close what just started.
    await server.destroy().catch(() => {})
    process.exit(0)
  }
  console.log(`REALPDS READY ${kind} ${started.port}`)
}

main().catch((err) => {
  console.error(`REALPDS ${kind} failed to start:`, err)
  process.exit(1)
})
