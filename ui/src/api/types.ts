// Names for the server's shapes, from the OpenAPI document (see `npm run api-types`).
import type { components } from "./schema";

type S = components["schemas"];

export type Workflow = S["Workflow"];
export type WorkflowNode = S["Node"];
export type WorkflowEdge = S["Edge"];
export type RetryPolicy = S["RetryPolicy"];
export type WorkflowOut = S["WorkflowOut"];
export type WorkflowDetail = S["WorkflowDetail"];
export type NodeType = S["NodeType"];
export type Execution = S["ExecutionOut"];
export type ExecutionStatus = S["ExecutionStatus"];
export type Frame = S["FrameOut"];
export type Me = S["MeOut"];
export type Org = S["OrgOut"];
export type Role = S["Role"];
export type Tokens = S["TokenOut"];
export type Credential = S["CredentialOut"];
export type ApiKey = S["ApiKeyOut"];
export type ApiKeyIssued = S["ApiKeyIssued"];
export type Member = S["MemberOut"];
export type Share = S["ShareOut"];
export type Revision = S["RevisionOut"];
export type RevisionDetail = S["RevisionDetail"];
export type Diff = S["Diff"];

export interface Page<T> {
  items: T[];
  nextCursor?: string | null;
}

/** The statuses a journal frame records (FrameStatus on the server). */
export type FrameStatus =
  | "started"
  | "completed"
  | "retrying"
  | "failed"
  | "skipped"
  | "waiting"
  | "cancelled"
  | "interrupted";
