// Google's Node client (google-gax), unchanged, against an lro server.
//
// Usage: node operations.js grpc|rest
//
// The server and its operations come from the environment (see
// interop/server_test.go). Over gRPC the client is gax's OperationsClient
// on an insecure channel; over REST it is the same client in fallback mode
// ("rest"), set up as a generated client sets it up: the Operations protos
// with the service's HTTP rules for operations under
// projects/*/locations/*. Waiting is LROperation.promise(). Prints
// "ok <check>" for each check that passed and exits non-zero at the first
// that fails.
'use strict';

const fs = require('fs');
const path = require('path');
const gax = require('google-gax');

// The protos of the client: those of the Operations service that gax ships
// (which hold google.protobuf.Duration, the fixture's response type), and
// google/rpc/error_details.proto, as in the proto root of a generated client
// whose service imports it. Over REST the client decodes an Any only if its
// type is in this root (googleapis/google-cloud-node#3531), and the errors
// of operations the library ends carry a google.rpc.ErrorInfo.
const protosDir = path.join(path.dirname(require.resolve('google-gax')), '..', 'protos');
const readJSON = name => JSON.parse(fs.readFileSync(path.join(protosDir, name), 'utf8'));
const protosJSON = mergeNested(readJSON('operations.json'), readJSON('status.json'));

// mergeNested adds to a the namespaces and types of b that a lacks.
function mergeNested(a, b) {
  for (const [k, v] of Object.entries(b.nested || {})) {
    if (!a.nested) a.nested = {};
    if (!(k in a.nested)) a.nested[k] = v;
    else if (v.nested && !v.fields) mergeNested(a.nested[k], v);
  }
  return a;
}

// A client with no credentials, as for an emulator: nothing is fetched.
const noAuth = () => new gax.googleAuthLibrary.GoogleAuth({authClient: new gax.googleAuthLibrary.PassThroughClient()});

const env = process.env;
const [DONE, FAILED, SLOW, BLOCK] = [env.LRO_OP_DONE, env.LRO_OP_FAILED, env.LRO_OP_SLOW, env.LRO_OP_BLOCK];
const PARENT = env.LRO_PARENT;
const LIST_NAME = env.LRO_LIST_NAME;
const ALL = [DONE, FAILED, SLOW, BLOCK].sort();

function check(name, cond, detail) {
  if (!cond) {
    console.log(`FAIL ${name}: ${JSON.stringify(detail)}`);
    process.exit(1);
  }
  console.log(`ok ${name}`);
}

// The HTTP rules a generated client of a service with operations under
// projects/*/locations/* gives its operations client.
const httpRules = [
  {selector: 'google.longrunning.Operations.GetOperation', get: '/v1/{name=projects/*/locations/*/operations/*}'},
  {selector: 'google.longrunning.Operations.ListOperations', get: '/v1/{name=projects/*/locations/*}/operations'},
  {selector: 'google.longrunning.Operations.CancelOperation', post: '/v1/{name=projects/*/locations/*/operations/*}:cancel', body: '*'},
  {selector: 'google.longrunning.Operations.DeleteOperation', delete: '/v1/{name=projects/*/locations/*/operations/*}'},
];

function makeClient(mode) {
  if (mode === 'grpc') {
    const [host, port] = splitHostPort(env.LRO_GRPC_ADDR);
    const client = gax.lro({auth: noAuth()}).operationsClient({
      servicePath: host,
      port,
      sslCreds: gax.grpc.credentials.createInsecure(),
    });
    return {client, module: gax};
  }
  if (mode === 'rest') {
    const url = new URL(env.LRO_HTTP_URL);
    const protoJson = gax.fallback.protobuf.Root.fromJSON(protosJSON);
    const client = gax.fallback
      .lro({
        fallback: 'rest',
        // Both as generated clients may set them: $alt=json;enum-encoding=int
        // and $prettyPrint=0 on every request.
        numericEnums: true,
        minifyJson: true,
        protoJson,
        // Top-level names use the routes of operations.proto, gax's own.
        httpRules: PARENT ? httpRules : undefined,
        authClient: noAuth(),
      })
      .operationsClient({
        servicePath: url.hostname,
        port: Number(url.port),
        protocol: 'http',
        fallback: 'rest',
      });
    return {client, module: gax.fallback};
  }
  throw new Error(`unknown mode ${mode}`);
}

function splitHostPort(addr) {
  const i = addr.lastIndexOf(':');
  return [addr.slice(0, i), Number(addr.slice(i + 1))];
}

function seconds(any) {
  const d = gax.protobuf.Root.fromJSON(protosJSON)
    .lookupType('google.protobuf.Duration')
    .decode(any.value);
  return Number(d.seconds);
}

async function expectNotFound(promise) {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  return null;
}

async function main(mode) {
  const {client, module} = makeClient(mode);

  let [op] = await client.getOperation({name: DONE});
  check('get-done', op.done && seconds(op.response) === 42, op);

  [op] = await client.getOperation({name: FAILED});
  check('get-failed', op.done && op.error.code === 9 && op.error.message === env.LRO_FAILED_MESSAGE, op);

  // Pages of two, walked by hand to count them.
  let names = [];
  let pages = 0;
  let request = {name: LIST_NAME, pageSize: 2};
  while (request) {
    const [ops, next] = await client.listOperations(request, {autoPaginate: false});
    names.push(...ops.map(o => o.name));
    pages++;
    request = next;
  }
  check('list-pages', JSON.stringify(names.sort()) === JSON.stringify(ALL) && pages >= 2, {names, pages});
  names = [];
  for await (const o of client.listOperationsAsync({name: LIST_NAME, filter: 'done = true'})) {
    names.push(o.name);
  }
  check('list-filter', JSON.stringify(names.sort()) === JSON.stringify([DONE, FAILED].sort()), names);

  // LROperation.promise(), as a generated client's method returns it.
  const root = module.protobuf.Root.fromJSON(protosJSON);
  const Duration = root.lookupType('google.protobuf.Duration');
  const descriptor = new module.LongrunningDescriptor(client, Duration.decode.bind(Duration), Duration.decode.bind(Duration));
  const backoff = module.createDefaultBackoffSettings();
  backoff.initialRetryDelayMillis = 50;
  backoff.maxRetryDelayMillis = 200;
  backoff.totalTimeoutMillis = 60000;

  [op] = await client.getOperation({name: SLOW});
  check('wait-saw-running', !op.done, op);
  const slow = module.operation(op, descriptor, backoff);
  const [result, metadata] = await slow.promise();
  check('wait', Number(result.seconds) === 42 && Number(metadata.seconds) === 1, {result, metadata});

  [op] = await client.getOperation({name: BLOCK});
  const blocked = module.operation(op, descriptor, backoff);
  await client.cancelOperation({name: BLOCK});
  const cancelErr = await expectNotFound(blocked.promise());
  check('cancel', cancelErr && cancelErr.code === 1, cancelErr && {code: cancelErr.code, message: cancelErr.message});

  const nf = await expectNotFound(client.getOperation({name: env.LRO_OP_MISSING}));
  check('not-found', nf && nf.code === 5, nf && {code: nf.code, message: nf.message});
  check(
    'error-reason',
    nf.reason === 'OPERATION_NOT_FOUND' &&
      nf.domain === env.LRO_ERROR_DOMAIN &&
      nf.errorInfoMetadata &&
      nf.errorInfoMetadata.operation === env.LRO_OP_MISSING,
    {reason: nf.reason, domain: nf.domain, metadata: nf.errorInfoMetadata}
  );

  await client.deleteOperation({name: FAILED});
  const gone = await expectNotFound(client.getOperation({name: FAILED}));
  check('delete', gone && gone.code === 5, gone && {code: gone.code, message: gone.message});
  client.close();
}

main(process.argv[2]).catch(err => {
  console.log(`FAIL ${err.stack || err}`);
  process.exit(1);
});
