// Validates a client metadata document the way the PDS's authorization server does (@atproto/oauth-types' schema,
// then @atproto/oauth-provider's ClientManager rules for discoverable clients). Run with cwd = the dev-env cache;
// arguments: the metadata JSON, the server's metadata JSON. Prints {"ok": true} or {"ok": false, "error": …}.
import path from 'node:path'
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'
const require = createRequire(path.join(process.cwd(), 'package.json'))
const types = await import(require.resolve('@atproto/oauth-types'))
const providerDir = path.join(process.cwd(), 'node_modules', '@atproto', 'oauth-provider', 'dist')
const { ClientManager } = await import(pathToFileURL(path.join(providerDir, 'client', 'client-manager.js')).href)
const input = JSON.parse(process.argv[2])
const server = JSON.parse(process.argv[3])
try {
  const metadata = types.oauthClientMetadataSchema.parse(input)
  const manager = new ClientManager(server, null, {}, null, null, null)
  manager.validateClientMetadata(metadata.client_id, metadata)
  console.log(JSON.stringify({ ok: true }))
} catch (err) {
  console.log(JSON.stringify({ ok: false, error: String(err.message || err) }))
}
