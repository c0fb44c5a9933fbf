import { echo } from '../../domain/echo.js';
import { invalidArgument } from '../../domain/errors.js';
import {
  readArray,
  readBool,
  readBytes,
  readEnumIn,
  readInt,
  readObject,
  readString,
  readStringMap,
  readTimestamp,
  readUint64String,
  type Json,
  type JsonObject,
} from './json-read.js';
import type { FieldType, ProtoMessage, ScalarType } from './proto-json-fields.js';

/** Messages still to check: a source object and the copy that receives its camelCase fields. */
type Work = Array<{ src: JsonObject; dst: JsonObject; spec: ProtoMessage; path: string }>;

/**
 * Checks a parsed JSON body against its proto message the way protobuf's JSON parser did in
 * Google's front end (docs/compat.md C-JSON-STRICT), and returns it with every field under its
 * lowerCamelCase name, the form the readers of resource-json.ts expect:
 *
 * - an unknown name is refused, naming it and where it was found;
 * - one field given twice (`gateway_config` and `gatewayConfig`) is refused;
 * - every value must have its field's JSON type, output-only fields included.
 *
 * One pass with an explicit work list: the body's depth is bounded by the parser already
 * (strict-json.ts), and the walk does not use the call stack for it either.
 */
export function checkMessageJson(body: JsonObject, spec: ProtoMessage, path: string): JsonObject {
  const root: JsonObject = {};
  const work: Work = [{ src: body, dst: root, spec, path }];
  for (let item = work.pop(); item !== undefined; item = work.pop()) {
    const seen = new Map<string, string>();
    for (const [key, value] of Object.entries(item.src)) {
      const field = item.spec.fields.get(key);
      if (field === undefined) {
        const at = item.path === '' ? '' : ` at '${item.path}'`;
        throw invalidArgument(item.path || echo(key), `Invalid JSON payload received. Unknown name "${echo(key)}"${at}: Cannot find field.`);
      }
      const fieldPath = item.path === '' ? field.name : `${item.path}.${field.name}`;
      const earlier = seen.get(field.jsonName);
      if (earlier !== undefined) {
        throw invalidArgument(fieldPath, `Invalid JSON payload received. Field '${fieldPath}' is given twice (as "${earlier}" and "${key}").`);
      }
      seen.set(field.jsonName, key);
      // proto3 JSON: null is the field's default value, whatever its type.
      if (value === null) {
        item.dst[field.jsonName] = null;
        continue;
      }
      if (!field.repeated) {
        item.dst[field.jsonName] = checkValue(value, field.type, fieldPath, work);
        continue;
      }
      const list = readArray(value, fieldPath)!;
      const out: Json[] = [];
      for (let i = 0; i < list.length; i++) {
        const elementPath = `${fieldPath}[${i}]`;
        const element = list[i]!;
        if (element === null) throw invalidArgument(elementPath, `Invalid value at '${elementPath}': a list element cannot be null.`);
        out.push(checkValue(element, field.type, elementPath, work));
      }
      item.dst[field.jsonName] = out;
    }
  }
  return root;
}

/** One non-null value of a field; a nested message is queued and its (still empty) copy returned. */
function checkValue(value: Json, type: FieldType, path: string, work: Work): Json {
  switch (type.kind) {
    case 'message': {
      const dst: JsonObject = {};
      work.push({ src: readObject(value, path)!, dst, spec: type.message, path });
      return dst;
    }
    case 'enum':
      readEnumIn(value, type.values, path);
      return value;
    case 'string_map':
      return readStringMap(value, path)!;
    case 'any': {
      const o = readObject(value, path)!;
      if (!readString(o['@type'], `${path}.@type`)) throw invalidArgument(`${path}.@type`, `Invalid value at '${path}': google.protobuf.Any needs "@type".`);
      // Its other members belong to the named type, which Bridgehead does not resolve: kept as given.
      return o;
    }
    case 'scalar':
      checkScalar(value, type.scalar, path);
      return value;
  }
}

function checkScalar(value: Json, scalar: ScalarType, path: string): void {
  switch (scalar) {
    case 'string':
    case 'field_mask':
      readString(value, path);
      return;
    case 'bool':
      readBool(value, path);
      return;
    case 'int32':
    case 'int64':
      readInt(value, path);
      return;
    case 'uint64':
      readUint64String(value, path);
      return;
    case 'bytes':
      readBytes(value, path);
      return;
    case 'timestamp':
      readTimestamp(value, path);
      return;
    case 'device_ref':
      if (typeof value === 'number') readUint64String(value, path);
      else readString(value, path);
      return;
  }
}
