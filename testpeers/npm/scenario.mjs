// The scenario runner the npm test clients (client2.mjs for
// @modelcontextprotocol/client@2, client1.mjs for @modelcontextprotocol/sdk
// 1.x) share with testpeers/gosdk/client: it runs the steps given as a JSON
// array and prints one JSON line per event on stdout, in the same shape as
// the go-sdk client (see testpeers.Step and testpeers.Event). The SDK
// differences live in the adapter each client passes in.

export function output() {
    const counts = new Map();
    const waiters = new Set();
    function emit(ev) {
        process.stdout.write(JSON.stringify(ev) + '\n');
        counts.set(ev.event, (counts.get(ev.event) ?? 0) + 1);
        for (const w of waiters) w();
    }
    function wait(kind, n, ms) {
        return new Promise(resolve => {
            const check = () => {
                if ((counts.get(kind) ?? 0) >= n) {
                    waiters.delete(check);
                    clearTimeout(timer);
                    resolve(true);
                }
            };
            const timer = setTimeout(() => {
                waiters.delete(check);
                resolve(false);
            }, ms);
            waiters.add(check);
            check();
        });
    }
    return { emit, wait };
}

export function errEvent(op, name, err) {
    const ev = { event: 'error', op, message: String(err?.message ?? err) };
    if (name) ev.name = name;
    if (typeof err?.code === 'number') ev.code = err.code;
    return ev;
}

// cannedContent fills a form from its requested schema.
export function cannedContent(schema) {
    const content = {};
    for (const [name, p] of Object.entries(schema?.properties ?? {})) {
        if (p.enum?.length) content[name] = p.enum[0];
        else if (p.oneOf?.length) content[name] = p.oneOf[0].const;
        else if (p.type === 'boolean') content[name] = true;
        else if (p.type === 'number' || p.type === 'integer') content[name] = Math.max(42, p.minimum ?? 42);
        else if (p.type === 'array') content[name] = p.items?.enum?.length ? [p.items.enum[0]] : p.items?.anyOf?.length ? [p.items.anyOf[0].const] : [];
        else if (p.format === 'email') content[name] = 'canned@example.com';
        else if (p.format === 'uri') content[name] = 'https://example.com/canned';
        else if (p.format === 'date') content[name] = '2026-01-02';
        else if (p.format === 'date-time') content[name] = '2026-01-02T03:04:05Z';
        else content[name] = `canned ${name}`;
    }
    return content;
}

export const cannedRoots = { roots: [{ uri: 'file:///canned/root', name: 'canned' }] };

export function cannedSample(params, emit) {
    const last = params.messages?.at(-1)?.content;
    const prompt = Array.isArray(last) ? last.map(c => c.text ?? '').join('') : (last?.text ?? '');
    emit({ event: 'sampling', prompt });
    return { role: 'assistant', model: 'canned-model', content: { type: 'text', text: `canned answer to: ${prompt}` } };
}

export function cannedElicit(params, emit) {
    const mode = params.mode ?? 'form';
    const res = { action: 'accept' };
    if (mode !== 'url') res.content = cannedContent(params.requestedSchema);
    emit({ event: 'elicitation', mode, message: params.message, url: params.url ?? '', action: res.action });
    return res;
}

const textOf = content => (content ?? []).filter(c => c.type === 'text').map(c => c.text).join('\n');
const sorted = a => [...a].sort();

// run executes the steps with adapter a:
//   a.caps()                       server capabilities
//   a.era()                        'modern' | 'legacy'
//   a.listTools() …                the SDK's list calls
//   a.callTool(params, {progress, signal, onprogress})
//   a.subscribe(uri) / a.unsubscribe(uri)
//   a.request(method, params)      a raw request (tasks/*), or undefined if unsupported
export async function run(a, steps, { emit, wait }) {
    for (const st of steps) {
        const args = st.args ?? {};
        const meta = {};
        if (st.logLevel) meta['io.modelcontextprotocol/logLevel'] = st.logLevel;
        try {
            switch (st.op) {
                case 'list': {
                    const caps = a.caps() ?? {};
                    if (caps.tools) {
                        const r = await a.listTools();
                        emit({ event: 'tools', names: sorted(r.tools.map(t => t.name)), ttlMs: r.ttlMs ?? 0, cacheScope: r.cacheScope ?? '' });
                    }
                    if (caps.prompts) {
                        const r = await a.listPrompts();
                        emit({ event: 'prompts', names: sorted(r.prompts.map(p => p.name)), ttlMs: r.ttlMs ?? 0, cacheScope: r.cacheScope ?? '' });
                    }
                    if (caps.resources) {
                        const r = await a.listResources();
                        emit({ event: 'resources', names: sorted(r.resources.map(x => x.uri)), ttlMs: r.ttlMs ?? 0, cacheScope: r.cacheScope ?? '' });
                        const t = await a.listResourceTemplates();
                        emit({
                            event: 'resourceTemplates',
                            names: sorted(t.resourceTemplates.map(x => x.uriTemplate)),
                            ttlMs: t.ttlMs ?? 0,
                            cacheScope: t.cacheScope ?? ''
                        });
                    }
                    break;
                }
                case 'call': {
                    const params = { name: st.name, arguments: args };
                    if (Object.keys(meta).length) params._meta = meta;
                    const r = await a.callTool(params, { progress: st.progress });
                    emit({ event: 'result', op: 'call', name: st.name, text: textOf(r.content), isError: Boolean(r.isError), result: r });
                    break;
                }
                case 'cancel': {
                    const ac = new AbortController();
                    const timer = setTimeout(() => ac.abort('cancelled by the scenario'), st.afterMs ?? 0);
                    try {
                        const r = await a.callTool({ name: st.name, arguments: args }, { signal: ac.signal });
                        emit({ event: 'result', op: 'cancel', name: st.name, text: textOf(r.content), isError: Boolean(r.isError) });
                    } catch (err) {
                        if (ac.signal.aborted) emit({ event: 'cancelled', op: 'cancel', name: st.name });
                        else emit(errEvent('cancel', st.name, err));
                    } finally {
                        clearTimeout(timer);
                    }
                    break;
                }
                case 'prompt': {
                    const r = await a.getPrompt({ name: st.name, arguments: Object.fromEntries(Object.entries(args).map(([k, v]) => [k, String(v)])) });
                    emit({ event: 'result', op: 'prompt', name: st.name, text: r.messages.map(m => m.content?.text ?? '').join('\n'), result: r });
                    break;
                }
                case 'read': {
                    const r = await a.readResource({ uri: st.uri });
                    emit({ event: 'result', op: 'read', name: st.uri, text: r.contents.map(c => c.text ?? '').join('\n'), ttlMs: r.ttlMs ?? 0, cacheScope: r.cacheScope ?? '' });
                    break;
                }
                case 'complete': {
                    const r = await a.complete({ ref: st.ref, argument: st.argument });
                    emit({ event: 'completion', values: r.completion.values });
                    break;
                }
                case 'subscribe':
                    await a.subscribe(st.uri);
                    emit({ event: 'subscribed', uri: st.uri });
                    break;
                case 'unsubscribe':
                    await a.unsubscribe(st.uri);
                    emit({ event: 'unsubscribed', uri: st.uri });
                    break;
                case 'setLevel':
                    await a.setLoggingLevel(st.level);
                    emit({ event: 'levelSet', level: st.level });
                    break;
                case 'ping':
                    await a.ping();
                    emit({ event: 'pong' });
                    break;
                case 'task':
                    await runTask(a, st, args, emit);
                    break;
                case 'wait': {
                    const n = st.count > 0 ? st.count : 1;
                    const ms = st.timeoutMs > 0 ? st.timeoutMs : 10000;
                    if (await wait(st.event, n, ms)) emit({ event: 'waited', name: st.event, count: n });
                    else emit({ event: 'error', op: 'wait', name: st.event, message: `fewer than ${n} ${st.event} events within ${ms}ms` });
                    break;
                }
                case 'sleep':
                    await new Promise(r => setTimeout(r, st.ms ?? 0));
                    break;
                default:
                    emit({ event: 'unsupported', op: st.op });
            }
        } catch (err) {
            emit(errEvent(st.op, st.name ?? st.uri ?? st.level, err));
        }
    }
}

// runTask calls a tool that may answer with a task (the
// io.modelcontextprotocol/tasks extension) and drives it: polls tasks/get,
// answers input_required with tasks/update, or cancels it (st.cancel).
async function runTask(a, st, args, emit) {
    if (!a.request) {
        emit({ event: 'unsupported', op: 'task' });
        return;
    }
    const created = await a.request('tools/call', { name: st.name, arguments: args });
    if (created.resultType !== 'task') {
        emit({ event: 'result', op: 'task', name: st.name, text: textOf(created.content), isError: Boolean(created.isError), result: created });
        return;
    }
    emit({ event: 'task', taskId: created.taskId, status: created.status });
    if (st.cancel) {
        await a.request('tasks/cancel', { taskId: created.taskId });
        const t = await a.request('tasks/get', { taskId: created.taskId });
        emit({ event: 'task', taskId: t.taskId, status: t.status });
        return;
    }
    const answered = new Set();
    for (let i = 0; i < 200; i++) {
        const t = await a.request('tasks/get', { taskId: created.taskId });
        if (t.status === 'input_required') {
            const responses = {};
            for (const [key, req] of Object.entries(t.inputRequests ?? {})) {
                if (answered.has(key)) continue;
                answered.add(key);
                if (req.method === 'elicitation/create') responses[key] = cannedElicit(req.params, emit);
                else if (req.method === 'sampling/createMessage') responses[key] = cannedSample(req.params, emit);
                else if (req.method === 'roots/list') responses[key] = cannedRoots;
            }
            if (Object.keys(responses).length) {
                emit({ event: 'task', taskId: t.taskId, status: t.status });
                await a.request('tasks/update', { taskId: t.taskId, inputResponses: responses });
            }
        } else if (['completed', 'failed', 'cancelled'].includes(t.status)) {
            emit({ event: 'task', taskId: t.taskId, status: t.status });
            if (t.result) emit({ event: 'result', op: 'task', name: st.name, text: textOf(t.result.content), isError: Boolean(t.result.isError), result: t.result });
            return;
        }
        await new Promise(r => setTimeout(r, t.pollIntervalMs ?? 100));
    }
    emit({ event: 'error', op: 'task', name: st.name, message: 'the task did not finish' });
}

// parseArgs reads the clients' common command line:
//   --url URL | -- COMMAND ARGS...   the server
//   --version 2026-07-28|2025-11-25  (client2 only; client1 speaks 2025 only)
//   --steps JSON                     the scenario
export function parseArgs(argv) {
    const o = { version: '2026-07-28', steps: '[{"op":"list"}]', command: [] };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (a === '--') {
            o.command = argv.slice(i + 1);
            break;
        } else if (a === '--url') o.url = argv[++i];
        else if (a === '--version') o.version = argv[++i];
        else if (a === '--steps') o.steps = argv[++i];
    }
    o.steps = JSON.parse(o.steps);
    return o;
}
