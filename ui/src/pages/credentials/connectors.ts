// The connectors that take a credential, from the node types (every action of a connector
// carries the same credentialSchema).
import type { NodeType } from "../../api/types";
import type { JsonSchema } from "./schemaForm";

export interface CredentialConnector {
  id: string;
  name: string;
  schema: JsonSchema;
}

export function credentialConnectors(types: NodeType[]): CredentialConnector[] {
  const found = new Map<string, CredentialConnector>();
  for (const type of types) {
    if (type.credentialSchema && !found.has(type.connector)) {
      found.set(type.connector, {
        id: type.connector,
        name: type.name,
        schema: type.credentialSchema as JsonSchema,
      });
    }
  }
  return [...found.values()].sort((a, b) => a.name.localeCompare(b.name));
}
