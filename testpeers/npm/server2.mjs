// A 2026-07-28 MCP server built with @modelcontextprotocol/server@2, for
// mcptray's tests. It serves the same tools as the go-sdk test peer
// (testpeers/gosdk/server) plus a task (the io.modelcontextprotocol/tasks
// extension), over stdio (`node server2.mjs stdio`, the default) or
// streamable HTTP (`node server2.mjs http`, PORT=0 picks a port, announced
// on stderr by loopback.cjs). The SDK also serves 2025-era clients from the
// same factory: on stdio fully, on HTTP statelessly (createMcpHandler's
// default `legacy: 'stateless'`: no sessions, no GET stream, no
// server-initiated requests).
//
// What the SDK lacks, done by hand here: the tasks extension (tasks/get,
// tasks/update, tasks/cancel are custom request handlers and the tool
// returns `resultType: "task"` itself), and a node:http mount (the SDK's
// handler is a fetch handler; @modelcontextprotocol/node is not used).
import { createServer } from 'node:http';
import { randomBytes, randomUUID } from 'node:crypto';
import * as z from 'zod/v4';
import {
    McpServer,
    ResourceTemplate,
    createMcpHandler,
    createRequestStateCodec,
    inputRequired,
    inputResponse,
    completable
} from '@modelcontextprotocol/server';
import { serveStdio } from '@modelcontextprotocol/server/stdio';

const TASKS = 'io.modelcontextprotocol/tasks';
const STATUS_URI = 'peer://status';
const names = ['Alice', 'Albert', 'Bob'];

// State shared by every per-request instance: createMcpHandler builds a
// fresh McpServer per HTTP request (docs/serving/http.md).
const shared = {
    version: 0, // content version of peer://status
    cancelled: 0, // slow calls cancelled so far
    added: new Set(), // tools added by add_tool
    tasks: new Map() // taskId → task
};

// requestState is attacker-controlled (spec basic/patterns/mrtr.mdx,
// server requirements 4–5); the SDK's HMAC codec binds it to its tool and
// its verify hook rejects a tampered state with -32602 before the handler.
const codec = createRequestStateCodec({ key: randomBytes(32), ttlSeconds: 600 });

const text = t => ({ content: [{ type: 'text', text: t }] });

function envelope(ctx) {
    return ctx.mcpReq.envelope ?? {};
}

function clientHasTasks(ctx) {
    const caps = envelope(ctx)['io.modelcontextprotocol/clientCapabilities'];
    return Boolean(caps?.extensions?.[TASKS]);
}

// ask returns an input_required result with one request and a state bound
// to tool; answered returns the response to key after checking the state.
async function ask(tool, key, request) {
    return inputRequired({ inputRequests: { [key]: request }, requestState: await codec.mint({ tool }) });
}

function answered(ctx, tool, key) {
    const state = ctx.mcpReq.requestState();
    if (state === undefined) return undefined;
    if (state.tool !== tool) {
        throw Object.assign(new Error(`requestState was minted for ${state.tool}, not ${tool}`), { code: -32602 });
    }
    return inputResponse(ctx.mcpReq.inputResponses, key);
}

function now() {
    return new Date().toISOString();
}

function taskView(t) {
    const v = {
        taskId: t.taskId,
        status: t.status,
        statusMessage: t.statusMessage,
        createdAt: t.createdAt,
        lastUpdatedAt: t.lastUpdatedAt,
        ttlMs: 60000,
        pollIntervalMs: 100
    };
    if (t.status === 'input_required') v.inputRequests = t.inputRequests;
    if (t.status === 'completed') v.result = t.result;
    return v;
}

function setTask(t, status, statusMessage) {
    t.status = status;
    t.statusMessage = statusMessage;
    t.lastUpdatedAt = now();
}

function build(notifier) {
    const server = new McpServer(
        { name: 'ts2-peer', version: '1.0.0' },
        {
            capabilities: { logging: {}, resources: { subscribe: true, listChanged: true }, extensions: { [TASKS]: {} } },
            instructions: 'A @modelcontextprotocol/server@2 test peer for mcptray.',
            requestState: { verify: codec.verify },
            cacheHints: {
                'tools/list': { ttlMs: 30000, cacheScope: 'public' },
                'prompts/list': { ttlMs: 30000, cacheScope: 'public' },
                'resources/list': { ttlMs: 30000, cacheScope: 'public' },
                'resources/templates/list': { ttlMs: 30000, cacheScope: 'public' },
                'resources/read': { ttlMs: 0, cacheScope: 'private' }
            }
        }
    );
    const addTool = name =>
        server.registerTool(name, { description: 'Added by add_tool' }, async () => text(`${name}: added`));

    server.registerTool('echo', { description: 'Echoes message', inputSchema: z.object({ message: z.string() }) }, async ({ message }) =>
        text(`echo: ${message}`)
    );
    server.registerTool(
        'header_echo',
        {
            description: 'Echoes region, which travels in the Mcp-Param-Region header too',
            inputSchema: z.object({ region: z.string().meta({ 'x-mcp-header': 'Region' }) })
        },
        async ({ region }) => text(`region: ${region}`)
    );
    server.registerTool('elicit_form', { description: 'Asks for a name in a form', inputSchema: z.object({}) }, async (_args, ctx) => {
        const r = answered(ctx, 'elicit_form', 'name');
        if (r?.kind === 'elicit') return text(`hello ${r.content?.name ?? ''} (${r.action})`);
        return ask(
            'elicit_form',
            'name',
            inputRequired.elicit({
                message: 'What is your name?',
                requestedSchema: { type: 'object', properties: { name: { type: 'string', description: 'your name' } }, required: ['name'] }
            })
        );
    });
    server.registerTool('elicit_url', { description: 'Asks the user to visit a URL', inputSchema: z.object({}) }, async (_args, ctx) => {
        const r = answered(ctx, 'elicit_url', 'consent');
        if (r?.kind === 'elicit') return text(`url: ${r.action}`);
        return ask('elicit_url', 'consent', inputRequired.elicitUrl({ message: 'Approve the test peer', url: 'https://example.com/consent' }));
    });
    server.registerTool('sample', { description: "Asks the client's model", inputSchema: z.object({ prompt: z.string().optional() }) }, async ({ prompt }, ctx) => {
        const r = answered(ctx, 'sample', 'llm');
        if (r?.kind === 'sampling') {
            const c = Array.isArray(r.result.content) ? r.result.content : [r.result.content];
            return text(`sampled: ${c.map(x => x.text ?? '').join('')} (${r.result.model})`);
        }
        return ask(
            'sample',
            'llm',
            inputRequired.createMessage({ messages: [{ role: 'user', content: { type: 'text', text: prompt ?? 'Say hello' } }], maxTokens: 50 })
        );
    });
    server.registerTool('roots', { description: "Lists the client's roots", inputSchema: z.object({}) }, async (_args, ctx) => {
        const r = answered(ctx, 'roots', 'roots');
        if (r?.kind === 'roots') return text(`roots: ${r.roots.map(x => x.uri).join(',')}`);
        return ask('roots', 'roots', inputRequired.listRoots());
    });
    server.registerTool(
        'progress',
        { description: 'Sends a progress notification and a log message per step', inputSchema: z.object({ steps: z.number().int().optional() }) },
        async ({ steps }, ctx) => {
            const n = steps && steps > 0 ? steps : 3;
            const token = ctx.mcpReq._meta?.progressToken;
            for (let i = 1; i <= n; i++) {
                if (token !== undefined) {
                    await ctx.mcpReq.notify({ method: 'notifications/progress', params: { progressToken: token, progress: i, total: n, message: `step ${i}` } });
                }
                await ctx.mcpReq.log('info', `step ${i} of ${n}`, 'progress');
                await ctx.mcpReq.log('debug', `debug ${i}`, 'progress');
                // A pause per step: TypeScript SDK clients on stdio drop
                // notifications/progress that arrive back to back with the
                // response.
                await new Promise(r => setTimeout(r, 50));
            }
            return text(`progress: ${n} steps`);
        }
    );
    server.registerTool('slow', { description: 'Sleeps ms milliseconds (default 10000)', inputSchema: z.object({ ms: z.number().int().optional() }) }, async ({ ms }, ctx) => {
        const d = ms && ms > 0 ? ms : 10000;
        const done = await new Promise(resolve => {
            const timer = setTimeout(() => resolve(true), d);
            ctx.mcpReq.signal.addEventListener('abort', () => {
                clearTimeout(timer);
                resolve(false);
            });
        });
        if (!done) {
            shared.cancelled++;
            console.error('slow: cancelled');
        }
        return text(`slept ${d}ms`);
    });
    server.registerTool('cancellations', { description: 'Counts the slow calls cancelled so far' }, async () => text(`cancelled: ${shared.cancelled}`));
    server.registerTool('touch_resource', { description: `Changes ${STATUS_URI}` }, async () => {
        shared.version++;
        await notifier.resourceUpdated(server, STATUS_URI);
        return text(`status version ${shared.version}`);
    });
    server.registerTool('add_tool', { description: 'Adds a tool named name', inputSchema: z.object({ name: z.string() }) }, async ({ name }) => {
        if (shared.added.has(name)) return text(`${name} is already there`);
        shared.added.add(name);
        addTool(name);
        await notifier.toolsChanged(server);
        return text(`added ${name}`);
    });
    server.registerTool(
        'task',
        {
            description: 'Runs as a task (io.modelcontextprotocol/tasks): works ms, then asks for confirmation if confirm is set',
            inputSchema: z.object({ ms: z.number().int().optional(), confirm: z.boolean().optional() })
        },
        async ({ ms, confirm }, ctx) => {
            if (!clientHasTasks(ctx)) {
                return text('task: ran inline (the client did not declare the tasks extension)');
            }
            const t = { taskId: randomUUID(), createdAt: now(), lastUpdatedAt: now() };
            setTask(t, 'working', 'working');
            shared.tasks.set(t.taskId, t);
            t.timer = setTimeout(() => {
                if (t.status !== 'working') return;
                if (confirm) {
                    t.inputRequests = {
                        confirm: inputRequired.elicit({
                            message: 'Finish the task?',
                            requestedSchema: { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] }
                        })
                    };
                    setTask(t, 'input_required', 'waiting for confirmation');
                } else {
                    t.result = text('task: done');
                    setTask(t, 'completed', 'done');
                }
            }, ms ?? 200);
            // The SDK has no task support: a CreateTaskResult is returned as
            // it stands on the wire (ext-tasks, "Task Creation").
            return { resultType: 'task', ...taskView(t) };
        }
    );

    const TaskParams = z.object({ taskId: z.string() }).passthrough();
    const lookup = id => {
        const t = shared.tasks.get(id);
        if (!t) throw Object.assign(new Error(`unknown task ${id}`), { code: -32602 });
        return t;
    };
    server.server.setRequestHandler('tasks/get', { params: TaskParams, result: z.object({}).passthrough() }, async ({ taskId }) => taskView(lookup(taskId)));
    server.server.setRequestHandler(
        'tasks/update',
        { params: TaskParams, result: z.object({}).passthrough() },
        async ({ taskId }, ctx) => {
            const t = lookup(taskId);
            // The SDK lifts inputResponses out of every request's params
            // (its MRTR handling), tasks/update's included.
            const r = ctx.mcpReq.inputResponses?.confirm;
            if (t.status === 'input_required' && r) {
                delete t.inputRequests;
                t.result = text(`task: confirmed ${r.action} ${JSON.stringify(r.content ?? {})}`);
                setTask(t, 'completed', 'done');
            }
            return {};
        }
    );
    server.server.setRequestHandler('tasks/cancel', { params: TaskParams, result: z.object({}).passthrough() }, async ({ taskId }) => {
        const t = lookup(taskId);
        if (!['completed', 'failed', 'cancelled'].includes(t.status)) {
            clearTimeout(t.timer);
            setTask(t, 'cancelled', 'cancelled by the client');
        }
        return {};
    });

    server.registerPrompt(
        'greet',
        { description: 'Greets someone', argsSchema: z.object({ name: completable(z.string(), v => names.filter(n => n.startsWith(v))) }) },
        async ({ name }) => ({ description: 'a greeting', messages: [{ role: 'user', content: { type: 'text', text: `Please greet ${name}` } }] })
    );
    server.registerResource('status', STATUS_URI, { mimeType: 'text/plain' }, async uri => ({
        contents: [{ uri: uri.href, mimeType: 'text/plain', text: `status version ${shared.version}` }]
    }));
    server.registerResource(
        'item',
        new ResourceTemplate('peer://items/{id}', { list: undefined, complete: { id: v => ['1', '2', '3'].filter(x => x.startsWith(v)) } }),
        { mimeType: 'text/plain' },
        async (uri, { id }) => ({ contents: [{ uri: uri.href, mimeType: 'text/plain', text: `item ${id}` }] })
    );
    for (const name of shared.added) addTool(name);
    return server;
}

const mode = process.argv[2] ?? 'stdio';
if (mode === 'stdio') {
    // serveStdio pins one instance per connection and routes its own
    // send*ListChanged/sendResourceUpdated onto the open subscription stream
    // (docs/servers/notifications.md).
    serveStdio(() =>
        build({
            resourceUpdated: (s, uri) => s.server.sendResourceUpdated({ uri }),
            toolsChanged: () => {} // registerTool on the pinned instance notifies by itself
        })
    );
} else if (mode === 'http') {
    let handler;
    // Behind createMcpHandler instances are per request: publish through
    // the handler's notify facade.
    const notifier = {
        resourceUpdated: async (_s, uri) => handler.notify.resourceUpdated(uri),
        toolsChanged: async () => handler.notify.toolsChanged()
    };
    handler = createMcpHandler(() => build(notifier));
    const http = createServer(async (req, res) => {
        if (new URL(req.url, 'http://x').pathname !== '/mcp') {
            res.writeHead(404).end();
            return;
        }
        // A node:http ↔ fetch bridge; the client closing the connection
        // aborts the Request, which the SDK takes as cancellation.
        const ac = new AbortController();
        res.on('close', () => ac.abort());
        const chunks = [];
        for await (const c of req) chunks.push(c);
        const headers = new Headers();
        for (const [k, v] of Object.entries(req.headers)) headers.set(k, Array.isArray(v) ? v.join(', ') : v);
        const body = ['GET', 'HEAD'].includes(req.method) ? undefined : Buffer.concat(chunks);
        let response;
        try {
            response = await handler.fetch(new Request(`http://${req.headers.host}${req.url}`, { method: req.method, headers, body, signal: ac.signal }));
        } catch (err) {
            console.error('server2: handler failed:', err);
            res.writeHead(500).end();
            return;
        }
        res.writeHead(response.status, Object.fromEntries(response.headers));
        if (!response.body) {
            res.end();
            return;
        }
        try {
            for await (const chunk of response.body) res.write(chunk);
        } catch {
            // the client went away
        }
        res.end();
    });
    http.listen(Number(process.env.PORT ?? 0), '127.0.0.1');
    const stop = () => {
        http.close();
        void handler.close().finally(() => process.exit(0));
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
} else {
    console.error(`usage: server2.mjs [stdio|http]`);
    process.exit(2);
}
