// A real OAuth 2.1 authorization server (panva's oidc-provider) and an MCP
// server protected by it (the TypeScript SDK's server with its bearer-auth
// middleware), for mcptray's end-to-end OAuth tests. Both listen on
// 127.0.0.1 (see loopback.cjs): the authorization server first, the MCP
// server second; each announces its port on stderr.
//
// The authorization server offers open dynamic registration, requires PKCE,
// binds JWT access tokens to the resource indicator, issues rotating refresh
// tokens, revokes them (RFC 7009) and answers introspection of a client's
// own tokens (RFC 7662), so that a test can see what a sign-out revoked. It
// is strict about RFC 8707: a code exchange or a refresh without the
// resource parameter fails with invalid_target, where oidc-provider would
// use the resource of the grant. It approves every sign-in at once, as a
// user who always consents would. ACCESS_TTL (seconds) sets the access
// token's lifetime.
import http from "node:http";
import express from "express";
import Provider from "oidc-provider";
import { createRemoteJWKSet, jwtVerify } from "jose";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { requireBearerAuth } from "@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js";
import { randomUUID } from "node:crypto";
import { z } from "zod";

const accessTTL = Number(process.env.ACCESS_TTL || 60);

function listen(server) {
  return new Promise((resolve) => server.listen(0, () => resolve(server.address().port)));
}

// The authorization server.
const asServer = http.createServer();
const asPort = await listen(asServer);
const issuer = `http://127.0.0.1:${asPort}`;

// The MCP server's address is known only once it listens, and the
// authorization server needs it as its resource: listen first.
const app = express();
const mcpServer = http.createServer(app);
const mcpPort = await listen(mcpServer);
const mcpURL = `http://127.0.0.1:${mcpPort}/mcp`;

const provider = new Provider(issuer, {
  clients: [],
  cookies: { keys: ["test-only-cookie-key"] },
  features: {
    devInteractions: { enabled: false },
    registration: { enabled: true },
    revocation: { enabled: true },
    // A public client may introspect its own tokens only.
    introspection: { enabled: true, allowedPolicy: (_ctx, client, token) => token.clientId === client.clientId },
    resourceIndicators: {
      enabled: true,
      // No resource is filled in for a client that names none. (For a
      // token request without openid in its scope, oidc-provider still
      // falls back to the grant's resource whatever useGrantedResource
      // says, lib/helpers/resolve_resource.js: strictToken below refuses
      // such requests before it sees them.)
      defaultResource: () => undefined,
      useGrantedResource: () => false,
      getResourceServerInfo: (_ctx, resource) => {
        if (resource !== mcpURL) throw new Error(`unknown resource ${resource}`);
        return { scope: "mcp:tools", audience: mcpURL, accessTokenTTL: accessTTL, accessTokenFormat: "jwt", jwt: { sign: { alg: "RS256" } } };
      },
    },
  },
  scopes: ["openid", "offline_access", "mcp:tools"],
  issueRefreshToken: () => true,
  rotateRefreshToken: true,
  ttl: { AccessToken: accessTTL, RefreshToken: 24 * 3600, Grant: 24 * 3600, Interaction: 600, Session: 24 * 3600 },
  findAccount: (_ctx, id) => ({ accountId: id, claims: () => ({ sub: id }) }),
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
});
provider.proxy = false;

// Approve every sign-in: log in as "test-user" and grant what is asked.
async function approve(req, res) {
  try {
    const details = await provider.interactionDetails(req, res);
    let result;
    if (details.prompt.name === "login") {
      result = { login: { accountId: "test-user" } };
    } else {
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
      if (details.prompt.details.missingOIDCScope) grant.addOIDCScope(details.prompt.details.missingOIDCScope.join(" "));
      for (const [resource, scopes] of Object.entries(details.prompt.details.missingResourceScopes || {})) {
        grant.addResourceScope(resource, scopes.join(" "));
      }
      result = { consent: { grantId: await grant.save() } };
    }
    await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true });
  } catch (err) {
    res.statusCode = 500;
    res.end(String(err));
  }
}

// strictToken refuses a code exchange or a refresh that names no resource
// (RFC 8707 §2.2: the client sends it on the token request as well), and
// hands every other token request to oidc-provider. The body, read here,
// goes on as req.body, which oidc-provider takes from an upstream parser.
async function strictToken(req, res) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const body = Buffer.concat(chunks);
  const form = new URLSearchParams(body.toString());
  const grant = form.get("grant_type");
  if ((grant === "authorization_code" || grant === "refresh_token") && !form.get("resource")) {
    res.writeHead(400, { "content-type": "application/json", "cache-control": "no-store" });
    res.end(JSON.stringify({ error: "invalid_target", error_description: `a ${grant} request must name its resource (RFC 8707)` }));
    return;
  }
  req.body = body;
  return provider.callback()(req, res);
}

asServer.on("request", (req, res) => {
  if (req.url.startsWith("/interaction/")) return approve(req, res);
  if (req.method === "POST" && req.url.split("?")[0] === "/token") return strictToken(req, res);
  return provider.callback()(req, res);
});

// The protected MCP server.
const jwks = createRemoteJWKSet(new URL(`${issuer}/jwks`));
const verifier = {
  async verifyAccessToken(token) {
    const { payload } = await jwtVerify(token, jwks, { issuer, audience: mcpURL });
    return {
      token,
      clientId: payload.client_id,
      scopes: String(payload.scope || "").split(" ").filter(Boolean),
      expiresAt: payload.exp,
      resource: new URL(mcpURL),
    };
  },
};
const prmPath = "/.well-known/oauth-protected-resource/mcp";
app.get(prmPath, (_req, res) => res.json({ resource: mcpURL, authorization_servers: [issuer], scopes_supported: ["mcp:tools"] }));
const auth = requireBearerAuth({ verifier, requiredScopes: [], resourceMetadataUrl: `http://127.0.0.1:${mcpPort}${prmPath}` });
app.use(express.json());

const transports = new Map();
function newServer() {
  const server = new McpServer({ name: "protected-test-server", version: "1.0.0" });
  server.registerTool("whoami", { description: "Tells who the token belongs to", inputSchema: {} }, async (_args, extra) => ({
    content: [{ type: "text", text: `client ${extra.authInfo?.clientId} with scopes ${extra.authInfo?.scopes?.join(" ")}` }],
  }));
  server.registerTool("echo", { description: "Echoes its text", inputSchema: { text: z.string() } }, async ({ text }) => ({
    content: [{ type: "text", text }],
  }));
  return server;
}
app.post("/mcp", auth, async (req, res) => {
  const id = req.headers["mcp-session-id"];
  let transport = id && transports.get(id);
  if (!transport) {
    transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (sid) => transports.set(sid, transport),
    });
    await newServer().connect(transport);
  }
  await transport.handleRequest(req, res, req.body);
});
for (const method of ["get", "delete"]) {
  app[method]("/mcp", auth, async (req, res) => {
    const transport = transports.get(req.headers["mcp-session-id"]);
    if (!transport) return res.status(404).end();
    await transport.handleRequest(req, res);
  });
}
