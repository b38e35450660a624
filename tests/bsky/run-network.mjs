// A real local Bluesky network WITH an AppView (PLC directory + PDS + AppView "bsky" + bsync + Ozone, the full
// TestNetwork of @atproto/dev-env) for Beffroi's statistics tests: likes, reposts, replies, follows and
// notifications are counted by the AppView as on bsky.app.
//
// Needs PostgreSQL (BEFFROI_BSKY_PG_URL, default postgres://postgres@127.0.0.1:5432/beffroi_bsky; the database is
// created when missing, each run uses its own schemas and drops them when it stops). dev-env also insists on a Redis
// address in REDIS_HOST (default 127.0.0.1:6379), but the AppView of this version (@atproto/bsky 0.0.280) never
// connects to it: the network starts and counts the same with nothing listening there.
//
// Run like run-pds.mjs: Node 22 from the cache scripts/bluesky-dev-env prints, cwd = that cache directory.
// Prints one JSON line {"pds_url", "plc_url", "appview_url", "startup_ms"} once ready. Then, for each line on stdin:
//   "process" → waits until the AppView has indexed everything written so far, answers "processed" (or "error …").
// Stops on SIGTERM, SIGINT or when stdin closes (so it never outlives the test run that started it).
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import readline from 'node:readline'
import { createRequire } from 'node:module'

const started = Date.now()
const require = createRequire(path.join(process.cwd(), 'package.json'))
const { TestNetwork } = await import(require.resolve('@atproto/dev-env'))
const pg = require('pg')

const pgUrl = process.env.BEFFROI_BSKY_PG_URL || 'postgres://postgres@127.0.0.1:5432/beffroi_bsky'
process.env.REDIS_HOST = process.env.REDIS_HOST || '127.0.0.1:6379'
// Unique per run: parallel test runs (SQLite and PostgreSQL suites, CI jobs) share the database, never a schema.
// Postgres schema names may only hold letters and "_" here: the process id is spelled with letters (0 → a, 9 → j)
// so that schemas left by a killed run can be recognised and dropped.
const letters = (digits) => [...String(digits)].map((d) => String.fromCharCode(97 + Number(d))).join('')
const randomLetters = () => Array.from({ length: 6 }, () => String.fromCharCode(97 + Math.floor(Math.random() * 26))).join('')
const schema = `bf_${letters(process.pid)}_${randomLetters()}`
// dev-env prefixes the schema per service.
const schemas = [`appview_${schema}`, `bsync_${schema}`, `ozone_${schema}`]

const dataRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'beffroi-bsky-net-'))
let network
let stopping = false

async function withClient(url, fn) {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}

async function ensureDatabase() {
  const target = new URL(pgUrl)
  const name = decodeURIComponent(target.pathname.slice(1))
  const admin = new URL(pgUrl)
  admin.pathname = '/postgres'
  await withClient(admin.toString(), async (client) => {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])
    if (found.rowCount === 0) {
      try {
        await client.query(`CREATE DATABASE "${name.replaceAll('"', '""')}"`)
      } catch (err) {
        if (err.code !== '42P04') throw err // created by a parallel run meanwhile
      }
    }
  })
}

async function dropSchemas(names) {
  await withClient(pgUrl, async (client) => {
    for (const name of names) await client.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`)
  })
}

// Schemas left by runs that were killed (their process is gone): dropped so the database does not grow forever.
async function dropOrphans() {
  await withClient(pgUrl, async (client) => {
    const rows = await client.query(
      "SELECT nspname FROM pg_namespace WHERE nspname ~ '^(appview|bsync|ozone)_bf_[a-j]+_[a-z]+$'",
    )
    for (const { nspname } of rows.rows) {
      const pid = Number([...nspname.split('_')[2]].map((c) => c.charCodeAt(0) - 97).join(''))
      let alive = true
      try {
        process.kill(pid, 0)
      } catch (err) {
        alive = err.code === 'EPERM'
      }
      if (!alive) await client.query(`DROP SCHEMA IF EXISTS "${nspname}" CASCADE`)
    }
  })
}

async function stop(code = 0) {
  if (stopping) return
  stopping = true
  try {
    if (network) await network.close()
  } catch (err) {
    console.error('closing the network failed:', err)
  }
  try {
    await dropSchemas(schemas)
  } catch (err) {
    console.error('dropping the schemas failed:', err)
  }
  await fs.rm(dataRoot, { recursive: true, force: true })
  process.exit(code)
}

process.on('SIGTERM', () => stop(0))
process.on('SIGINT', () => stop(0))

try {
  await ensureDatabase()
  await dropOrphans()
  // Both PDSes of the network (the account's and a third-party one the moderation service moves from) keep their
  // SQLite files and blobs under os.tmpdir(), each in its own random folder: pointing the temporary folder at
  // dataRoot keeps them apart and removes them all when the network stops. (Giving `pds.dataDirectory` would
  // hand the same folder to both.)
  process.env.TMPDIR = dataRoot
  network = await TestNetwork.create({
    dbPostgresUrl: pgUrl,
    dbPostgresSchema: schema,
    plc: {},
    pds: {},
    bsky: {},
  })
} catch (err) {
  console.error('the local Bluesky network did not start:', err)
  await stop(1)
}

// One command at a time, in order: the answers come back in the order the questions were asked.
const lines = readline.createInterface({ input: process.stdin })
let queue = Promise.resolve()
lines.on('line', (line) => {
  const command = line.trim()
  queue = queue.then(async () => {
    if (command === 'process') {
      try {
        await network.processAll()
        process.stdout.write('processed\n')
      } catch (err) {
        process.stdout.write(`error ${String(err).replaceAll('\n', ' ')}\n`)
      }
    } else if (command) {
      process.stdout.write(`error unknown command ${command}\n`)
    }
  })
})
lines.on('close', () => queue.then(() => stop(0)))

process.stdout.write(
  JSON.stringify({
    pds_url: network.pds.url,
    plc_url: network.plc.url,
    appview_url: network.bsky.url,
    startup_ms: Date.now() - started,
  }) + '\n',
)
