// A @modelcontextprotocol/client@2 test client for mcptray: it runs a
// scenario (scenario.mjs) against a server and prints JSON lines. At
// --version 2026-07-28 it pins the modern era (server/discover, no
// fallback); at 2025-11-25 it uses the SDK's default legacy handshake.
// Input requests (MRTR inputRequests on modern connections, server
// requests on legacy ones) reach the same handlers and get canned answers.
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import * as z from 'zod/v4';
import { cannedElicit, cannedRoots, cannedSample, errEvent, output, parseArgs, run } from './scenario.mjs';

const opts = parseArgs(process.argv.slice(2));
const { emit, wait } = output();
const modern = opts.version >= '2026-07-28';

const client = new Client(
    { name: 'ts2-client', version: '1.0.0' },
    {
        capabilities: {
            sampling: {},
            elicitation: { form: {}, url: {} },
            roots: { listChanged: true },
            extensions: { 'io.modelcontextprotocol/tasks': {} }
        },
        ...(modern && { versionNegotiation: { mode: { pin: opts.version } } })
    }
);
client.setRequestHandler('elicitation/create', async req => cannedElicit(req.params, emit));
client.setRequestHandler('sampling/createMessage', async req => cannedSample(req.params, emit));
client.setRequestHandler('roots/list', async () => cannedRoots);
for (const kind of ['tools', 'prompts', 'resources']) {
    client.setNotificationHandler(`notifications/${kind}/list_changed`, async () => emit({ event: 'list_changed', kind }));
}
client.setNotificationHandler('notifications/resources/updated', async n => emit({ event: 'resource_updated', uri: n.params.uri }));
client.setNotificationHandler('notifications/message', async n =>
    emit({ event: 'log', level: n.params.level, logger: n.params.logger ?? '', data: n.params.data })
);

const transport = opts.url
    ? new StreamableHTTPClientTransport(new URL(opts.url))
    : new StdioClientTransport({ command: opts.command[0], args: opts.command.slice(1), stderr: 'inherit' });
try {
    await client.connect(transport);
} catch (err) {
    emit(errEvent('connect', '', err));
    process.exit(1);
}
const caps = () => client.getServerCapabilities() ?? {};
emit({
    event: 'connected',
    protocolVersion: client.getNegotiatedProtocolVersion(),
    era: client.getProtocolEra(),
    server: client.getServerVersion(),
    capabilities: caps()
});

// The list-changed stream: on a modern connection change notifications come
// only on a subscriptions/listen stream the client opens
// (docs/clients/subscriptions.md), so open one for the list types the
// server advertises, as the go-sdk client does on its own.
const streams = new Map(); // uri or '' (lists) → McpSubscription
if (client.getProtocolEra() === 'modern') {
    const c = caps();
    const filter = {
        ...(c.tools?.listChanged && { toolsListChanged: true }),
        ...(c.prompts?.listChanged && { promptsListChanged: true }),
        ...(c.resources?.listChanged && { resourcesListChanged: true })
    };
    if (Object.keys(filter).length) {
        try {
            streams.set('', await client.listen(filter));
        } catch (err) {
            emit(errEvent('listen', '', err));
        }
    }
}

const Any = z.object({}).passthrough();

let rawId = 1_000_000;
async function rawCall(method, params) {
    if (!opts.url) throw new Error('a task call needs HTTP: @modelcontextprotocol/client@2 rejects resultType "task"');
    const version = client.getNegotiatedProtocolVersion();
    const body = {
        jsonrpc: '2.0',
        id: rawId++,
        method,
        params: {
            ...params,
            _meta: {
                'io.modelcontextprotocol/protocolVersion': version,
                'io.modelcontextprotocol/clientInfo': { name: 'ts2-client', version: '1.0.0' },
                'io.modelcontextprotocol/clientCapabilities': { extensions: { 'io.modelcontextprotocol/tasks': {} } }
            }
        }
    };
    const res = await fetch(opts.url, {
        method: 'POST',
        headers: {
            'content-type': 'application/json',
            accept: 'application/json, text/event-stream',
            'mcp-protocol-version': version,
            'mcp-method': method,
            'mcp-name': params.name
        },
        body: JSON.stringify(body)
    });
    const text = await res.text();
    const json = res.headers.get('content-type')?.startsWith('text/event-stream')
        ? JSON.parse(text.split('\n').filter(l => l.startsWith('data:')).at(-1).slice(5))
        : JSON.parse(text);
    if (json.error) throw Object.assign(new Error(json.error.message), { code: json.error.code });
    return json.result;
}
await run(
    {
        caps,
        listTools: () => client.listTools(),
        listPrompts: () => client.listPrompts(),
        listResources: () => client.listResources(),
        listResourceTemplates: () => client.listResourceTemplates(),
        callTool: (params, o = {}) =>
            client.callTool(params, {
                signal: o.signal,
                ...(o.progress && {
                    onprogress: p => emit({ event: 'progress', progress: p.progress, total: p.total ?? 0, message: p.message ?? '' })
                })
            }),
        getPrompt: p => client.getPrompt(p),
        readResource: p => client.readResource(p),
        complete: p => client.complete(p),
        setLoggingLevel: level => client.setLoggingLevel(level),
        ping: () => client.ping(),
        subscribe: async uri => {
            if (client.getProtocolEra() === 'modern') streams.set(uri, await client.listen({ resourceSubscriptions: [uri] }));
            else await client.subscribeResource({ uri });
        },
        unsubscribe: async uri => {
            if (client.getProtocolEra() === 'modern') await streams.get(uri)?.close();
            else await client.unsubscribeResource({ uri });
            streams.delete(uri);
        },
        // The SDK has no tasks support: it rejects any result whose
        // resultType is "task" (SdkError UNSUPPORTED_RESULT_TYPE), so the
        // tools/call that may create a task is POSTed by hand (HTTP only);
        // tasks/get, tasks/update and tasks/cancel answer "complete" results
        // and go through client.request.
        request: (method, params) => (method === 'tools/call' ? rawCall(method, params) : client.request({ method, params }, Any))
    },
    opts.steps,
    { emit, wait }
);
for (const s of streams.values()) await s.close().catch(() => {});
emit({ event: 'done' });
await client.close();
process.exit(0);
