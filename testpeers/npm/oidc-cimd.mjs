// panva's oidc-provider configured as an authorization server that knows
// clients only by their Client ID Metadata Document
// (draft-ietf-oauth-client-id-metadata-document): no pre-registered
// clients and no dynamic registration. A client_id that is an https URL is
// fetched, validated and used. For mcptray's tests (testpeers.StartCIMD).
//
// Environment:
//   ISSUER_PORT  the port to listen on (127.0.0.1, see loopback.cjs)
//   RESOURCE     the protected MCP server's URL: the one resource it issues
//                JWT access tokens for (RFC 8707), with the scopes
//                mcp:tools and mcp:admin
//   ACCESS_TTL   access token lifetime in seconds (default 60)
//   NODE_EXTRA_CA_CERTS  the test host's CA, so that the https fetch of a
//                document trusts it
//
// Its login and consent pages are oidc-provider's own development pages
// (devInteractions): plain forms a browser stand-in can post; any login
// name is accepted, consent grants all that was asked, and "Cancel" aborts
// with access_denied.
import http from "node:http";
import Provider from "oidc-provider";

const port = Number(process.env.ISSUER_PORT);
const resource = process.env.RESOURCE;
const accessTTL = Number(process.env.ACCESS_TTL || 60);
if (!port || !resource) throw new Error("ISSUER_PORT and RESOURCE are required");
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: [],
  cookies: { keys: ["test-only-cookie-key"] },
  features: {
    devInteractions: { enabled: true },
    registration: { enabled: false },
    revocation: { enabled: true },
    clientIdMetadataDocument: { enabled: true, ack: "draft-02" },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, indicator) => {
        if (indicator !== resource) throw new Error(`unknown resource ${indicator}`);
        return { scope: "mcp:tools mcp:admin", audience: resource, accessTokenTTL: accessTTL, accessTokenFormat: "jwt", jwt: { sign: { alg: "RS256" } } };
      },
    },
  },
  scopes: ["openid", "offline_access", "mcp:tools", "mcp:admin"],
  issueRefreshToken: (_ctx, client) => client.grantTypeAllowed("refresh_token"),
  rotateRefreshToken: true,
  ttl: { AccessToken: accessTTL, RefreshToken: 24 * 3600, Grant: 24 * 3600, Interaction: 600, Session: 24 * 3600 },
  findAccount: (_ctx, id) => ({ accountId: id, claims: () => ({ sub: id }) }),
  // oidc-provider refuses to fetch a document from a special-use address
  // (its SSRF guard, set as the request's dispatcher). The test host is on
  // 127.0.0.1, so this deployment drops the guard through the fetch
  // option the provider documents for controlling outgoing requests.
  fetch: (url, options) => {
    delete options.dispatcher;
    return fetch(url, options);
  },
});
provider.proxy = false;

http.createServer(provider.callback()).listen(port);
