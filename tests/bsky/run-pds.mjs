// A real local Bluesky network (PLC directory + PDS, no AppView) for Beffroi's connector tests.
// Run with Node 22 from the cache scripts/bluesky-dev-env prints, with NODE_PATH unset and cwd = that cache dir
// (or NODE_PATH=<cache>/node_modules). Prints one JSON line {"pds_url", "plc_url"} once ready; stops on SIGTERM,
// SIGINT or when stdin closes (so it never outlives the test run that started it).
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { createRequire } from 'node:module'

// Resolve @atproto/dev-env from the cache directory (cwd), not from this file's folder in the clone.
const require = createRequire(path.join(process.cwd(), 'package.json'))
const { TestNetworkNoAppView } = await import(require.resolve('@atproto/dev-env'))

const dataRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'beffroi-bsky-'))
let network
let stopping = false

async function stop(code = 0) {
  if (stopping) return
  stopping = true
  try {
    if (network) await network.close()
  } catch (err) {
    console.error('closing the network failed:', err)
  }
  await fs.rm(dataRoot, { recursive: true, force: true })
  process.exit(code)
}

process.on('SIGTERM', () => stop(0))
process.on('SIGINT', () => stop(0))
process.stdin.on('end', () => stop(0))
process.stdin.on('close', () => stop(0))
process.stdin.resume()

await fs.mkdir(path.join(dataRoot, 'pds'), { recursive: true })
try {
  network = await TestNetworkNoAppView.create({
    plc: {},
    pds: {
      dataDirectory: path.join(dataRoot, 'pds'),
      blobstoreDiskLocation: path.join(dataRoot, 'blobs'),
    },
  })
} catch (err) {
  console.error('the local Bluesky network did not start:', err)
  await stop(1)
}
process.stdout.write(JSON.stringify({ pds_url: network.pds.url, plc_url: network.plc.url }) + '\n')
