// A @modelcontextprotocol/sdk 1.x test client for mcptray: it runs a
// scenario (scenario.mjs) against a server and prints JSON lines. The 1.x
// line speaks the 2025 era only (initialize; server-initiated elicitation,
// sampling and roots requests, answered with canned values).
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import {
    CreateMessageRequestSchema,
    ElicitRequestSchema,
    ListRootsRequestSchema,
    LoggingMessageNotificationSchema,
    PromptListChangedNotificationSchema,
    ResourceListChangedNotificationSchema,
    ResourceUpdatedNotificationSchema,
    ToolListChangedNotificationSchema
} from '@modelcontextprotocol/sdk/types.js';
import { cannedElicit, cannedRoots, cannedSample, errEvent, output, parseArgs, run } from './scenario.mjs';

const opts = parseArgs(process.argv.slice(2));
const { emit, wait } = output();

const client = new Client(
    { name: 'ts1-client', version: '1.0.0' },
    { capabilities: { sampling: {}, elicitation: { form: {}, url: {} }, roots: { listChanged: true } } }
);
client.setRequestHandler(ElicitRequestSchema, async req => cannedElicit(req.params, emit));
client.setRequestHandler(CreateMessageRequestSchema, async req => cannedSample(req.params, emit));
client.setRequestHandler(ListRootsRequestSchema, async () => cannedRoots);
client.setNotificationHandler(ToolListChangedNotificationSchema, async () => emit({ event: 'list_changed', kind: 'tools' }));
client.setNotificationHandler(PromptListChangedNotificationSchema, async () => emit({ event: 'list_changed', kind: 'prompts' }));
client.setNotificationHandler(ResourceListChangedNotificationSchema, async () => emit({ event: 'list_changed', kind: 'resources' }));
client.setNotificationHandler(ResourceUpdatedNotificationSchema, async n => emit({ event: 'resource_updated', uri: n.params.uri }));
client.setNotificationHandler(LoggingMessageNotificationSchema, async n =>
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
    protocolVersion: transport.protocolVersion ?? '2025-11-25',
    era: 'legacy',
    server: client.getServerVersion(),
    capabilities: caps()
});

await run(
    {
        caps,
        listTools: () => client.listTools(),
        listPrompts: () => client.listPrompts(),
        listResources: () => client.listResources(),
        listResourceTemplates: () => client.listResourceTemplates(),
        callTool: (params, o = {}) =>
            client.callTool(params, undefined, {
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
        subscribe: uri => client.subscribeResource({ uri }),
        unsubscribe: uri => client.unsubscribeResource({ uri })
    },
    opts.steps,
    { emit, wait }
);
emit({ event: 'done' });
if (opts.url) await transport.terminateSession().catch(() => {});
await client.close();
process.exit(0);
