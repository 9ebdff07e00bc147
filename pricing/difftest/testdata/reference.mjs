// Reference side of the differential test: runs @pydantic/genai-prices.
// Usage: node reference.mjs PKGDIR MODE < input.json > output.json
//   MODE "dump":  input ["provider id", ...]; output [{id, models:[{id, prices}]}] for each id found.
//   MODE "price": input [{provider, model, usage, timestamp}]; output [{total, error}] in order.
//   MODE "resolve": input [{provider, model}]; output [{provider, model}|null]: the reference's own name matching.
// Each case is priced with a provider holding only that model (match: equals
// its id) so that the comparison is about prices, not name matching.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import path from 'node:path';

const [pkgDir, mode] = process.argv.slice(2);
const mod = await import(pathToFileURL(path.join(pkgDir, 'node_modules/@pydantic/genai-prices/dist/index.js')).href);
const input = JSON.parse(readFileSync(0, 'utf8'));
const origWarn = console.warn;
console.warn = () => {};

if (mode === 'dump') {
  const out = [];
  for (const id of input) {
    const p = mod.findProvider({ providerId: id });
    if (p && p.id === id) out.push({ id: p.id, models: p.models.map((m) => ({ id: m.id, prices: m.prices })) });
  }
  process.stdout.write(JSON.stringify(out));
} else if (mode === 'price') {
  const providers = new Map();
  const out = [];
  for (const c of input) {
    let p = providers.get(c.provider);
    if (!p) {
      p = mod.findProvider({ providerId: c.provider });
      providers.set(c.provider, p);
    }
    const m = p && p.models.find((x) => x.id === c.model);
    if (!m) {
      out.push({ total: null, error: 'model not found' });
      continue;
    }
    const single = { ...p, fallback_model_providers: undefined, models: [{ ...m, match: { equals: m.id } }] };
    try {
      const r = mod.calcPrice(c.usage, c.model, { provider: single, timestamp: new Date(c.timestamp) });
      out.push(r ? { total: r.total_price, error: null } : { total: null, error: 'no result' });
    } catch (e) {
      out.push({ total: null, error: String(e && e.message ? e.message : e) });
    }
  }
  process.stdout.write(JSON.stringify(out));
} else if (mode === 'resolve') {
  // input [{provider, model}]; output the id of the model the reference matches, or null.
  const out = [];
  for (const c of input) {
    try {
      const r = mod.calcPrice({ input_tokens: 1 }, c.model, { providerId: c.provider, timestamp: new Date('2026-09-01T12:00:00Z') });
      out.push(r ? { provider: r.provider.id, model: r.model.id } : null);
    } catch (e) {
      out.push(null);
    }
  }
  process.stdout.write(JSON.stringify(out));
} else {
  origWarn('unknown mode ' + mode);
  process.exit(2);
}
