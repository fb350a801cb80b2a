// Checked by `tsc --noEmit --strict` (scripts/test-node.sh), never run: the declarations a user
// compiles against. Each `@ts-expect-error` line must fail to compile, or tsc fails.
import {
  AuthenticationError, connect, ExecutionResult, GithubConnector, HostedExecutor, LocalExecutor, StripeConnector,
  SwitchboardError, UpstreamAuthenticationError, Workspace, GongConnector, type CheckResult, type ConnectorInfo,
  type GithubIssue, type GongUser, type StoreStatus, type StripeCustomer, type SyncStarted,
} from 'switchboard-connectors';

export async function usage(signal: AbortSignal): Promise<void> {
  const gh = new GithubConnector({ credentials: { personal_access_token: 'ghp_...' }, config: { base_url: 'http://x' } });
  const res: ExecutionResult<GithubIssue[]> = await gh.issues.list({ owner: 'octo', repo: 'hello', per_page: 50 }, { signal });
  const title: string | null | undefined = res.data[0].title;
  const login: string | null | undefined = res.data[0].author?.login;
  const more: boolean = res.meta.has_next_page;
  const cursor: string | null = res.meta.pagination.cursor;
  // @ts-expect-error: a misspelt record field (`titel`) does not compile.
  void res.data[0].titel;

  // Hosted without credentials, with the reference's names; records keep the API's spelling.
  const gong = new GongConnector({ externalUserId: 'acme', airbyteClientId: 'id', airbyteClientSecret: 'secret' });
  const users: GongUser[] = (await gong.users.list()).data;
  const email: string | null | undefined = (await gong.users.get({ id: '1' })).data.emailAddress;
  // @ts-expect-error: records are typed in the API's spelling, not snake_case.
  void users[0].email_address;
  const version: string = GongConnector.connectorVersion + gong.connectorName;
  await gong.calls.list({ fromDateTime: '2024-03-01T00:00:00Z' });
  await gong.calls.list({ from_date_time: '2024-03-01T00:00:00Z' }); // core takes snake_case too
  // @ts-expect-error: a misspelt snake_case param does not compile either.
  await gong.calls.list({ from_datetime: '2024-03-01T00:00:00Z' });
  await gh.pullRequests.list({ owner: 'octo', repo: 'hello', states: ['OPEN'] });
  await gh.viewer.get();
  await new StripeConnector({ credentials: { api_key: 'sk_...' } }).customers.list({ limit: 10 });

  // The context store: sync and status on the connector, a typed search per syncable entity.
  const stripe = connect('stripe', { workspaceName: 'acme' });
  const started: SyncStarted = await stripe.contextStoreSync(['customers'], 3600);
  const generation: number = started.entities[0].generation;
  const store: StoreStatus = await stripe.contextStoreStatus();
  const synced: number = store.entities[0].recordCount;
  const page = await stripe.customers.contextStoreSearch({ query: { filter: { eq: { delinquent: true } } }, limit: 5 });
  const found: StripeCustomer[] = page.data.data;
  const next: string | null = page.data.meta.cursor;
  await stripe.customers.contextStoreSearch({ fields: [['id'], ['email']], cursor: next ?? undefined });
  // @ts-expect-error: the search takes query, limit, cursor and fields only.
  await stripe.customers.contextStoreSearch({ filter: { eq: { id: 'cus_1' } } });
  // @ts-expect-error: entities are a list.
  await stripe.contextStoreSync('customers');
  // @ts-expect-error: GitHub's issues need params to list, so the engine cannot sync them: no search.
  await gh.issues.contextStoreSearch({});
  void [generation, synced, found];

  // @ts-expect-error: a wrong param name (`ownr`) does not compile.
  await gh.issues.list({ ownr: 'octo', repo: 'hello' });
  // @ts-expect-error: a missing required param does not compile.
  await gh.issues.list({ owner: 'octo' });
  // @ts-expect-error: a param of the wrong type does not compile.
  await gh.issues.list({ owner: 'octo', repo: 'hello', per_page: '50' });
  // @ts-expect-error: an unknown entity does not compile.
  await gh.isues.list({ owner: 'octo', repo: 'hello' });

  const ex = new LocalExecutor('github', { personal_access_token: 'x' }, undefined, { timeout: 10 });
  for await (const page of ex.paginate('issues', 'list', { owner: 'octo', repo: 'hello' }, { selectFields: ['title'] })) {
    const n: number = page.data.length;
    void n;
  }
  const health: CheckResult = await ex.check();
  const healthy: boolean = health.success;
  const status: 'healthy' | 'unhealthy' = health.data.status;

  const ws = new Workspace({ clientId: 'id', clientSecret: 'secret', workspaceName: 'acme', baseUrl: 'http://x' });
  const id: string = await ws.createConnector({ connectorType: 'github', credentials: { personal_access_token: 'x' } });
  const infos: ConnectorInfo[] = await ws.listConnectors();
  const hosted: HostedExecutor = await ws.getConnector({ connectorId: id });
  // @ts-expect-error: a lookup takes connectorId or name, not both.
  await ws.getConnector({ connectorId: id, name: 'github' });
  const typed: GithubConnector = connect('github', { workspaceName: 'acme', tokenProvider: async () => 'token' });
  // @ts-expect-error: a misspelt client option does not compile.
  new Workspace({ clientID: 'id' });
  await typed.issues.get({ owner: 'octo', repo: 'hello', number: 1 });
  try {
    await hosted.execute({ entity: 'issues', action: 'list', params: { owner: 'octo', repo: 'hello' } });
  } catch (e) {
    if (e instanceof UpstreamAuthenticationError) console.log('reconnect', e.code);
    else if (e instanceof AuthenticationError || e instanceof SwitchboardError) console.log(e.statusCode, e.requestId, e.retryAfter);
  }
  void [title, login, more, cursor, email, version, healthy, status, infos, GithubConnector.toolSchema('anthropic'), gh.describe()];
}
