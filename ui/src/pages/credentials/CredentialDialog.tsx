// New credential, or a new secret for one: the connector's credential schema as a form.
// The form always starts empty: the server never gives a secret back.
import { useMemo, useState } from "react";
import { ApiError, put } from "../../api/client";
import type { Credential } from "../../api/types";
import { DialogForm } from "../../ui/DialogForm";
import { Modal } from "../../ui/Modal";
import { Field } from "../common/Field";
import type { CredentialConnector } from "./connectors";
import {
  buildData,
  dataField,
  formOf,
  initialValues,
  type FormField,
  type FormValues,
} from "./schemaForm";

interface DialogProps {
  connectors: CredentialConnector[];
  /** The credential whose secret is replaced; none for a new one. */
  editing: Credential | null;
  onClose: () => void;
  onSaved: (credential: Credential) => void;
}

const ID_PATTERN = "[A-Za-z0-9][A-Za-z0-9._:\\-]*";

function SchemaField({
  field,
  value,
  error,
  onChange,
}: {
  field: FormField;
  value: string | boolean | undefined;
  error?: string;
  onChange: (value: string | boolean) => void;
}) {
  const described = field.description?.trim();
  const sentence = described && !/[.!?]$/.test(described) ? `${described}.` : described;
  const hint = [sentence, field.required ? null : "Optional."].filter(Boolean).join(" ");
  if (field.kind === "boolean") {
    return (
      <Field label={field.label} hint={hint} error={error} className="field-check">
        {(control) => (
          <input
            {...control}
            type="checkbox"
            checked={value === true}
            onChange={(e) => onChange(e.target.checked)}
          />
        )}
      </Field>
    );
  }
  return (
    <Field label={field.label} hint={hint} error={error}>
      {(control) =>
        field.kind === "choice" ? (
          <select {...control} value={String(value ?? "")} onChange={(e) => onChange(e.target.value)}>
            {(!field.required || field.defaultValue === undefined) && <option value="">—</option>}
            {field.options?.map((option) => (
              <option key={option} value={option}>
                {option}
              </option>
            ))}
          </select>
        ) : (
          <input
            {...control}
            type={field.secret ? "password" : field.kind === "text" ? "text" : "number"}
            step={field.kind === "integer" ? 1 : field.kind === "number" ? "any" : undefined}
            value={String(value ?? "")}
            onChange={(e) => onChange(e.target.value)}
            autoComplete={field.secret ? "new-password" : "off"}
            spellCheck={false}
            required={field.required}
            maxLength={field.maxLength}
          />
        )
      }
    </Field>
  );
}

export function CredentialDialog({ connectors, editing, onClose, onSaved }: DialogProps) {
  const [connectorId, setConnectorId] = useState(editing?.connector ?? connectors[0]?.id ?? "");
  const [id, setId] = useState(editing?.id ?? "");
  const connector = connectors.find((c) => c.id === connectorId);
  const form = useMemo(() => formOf(connector?.schema), [connector]);
  const [variant, setVariant] = useState(form.kind === "variants" ? (form.variants[0]?.value ?? "") : "");
  const fields: FormField[] =
    form.kind === "fields"
      ? form.fields
      : form.kind === "variants"
        ? (form.variants.find((v) => v.value === variant)?.fields ?? [])
        : [];
  const [values, setValues] = useState<FormValues>(() => initialValues(fields));
  const [json, setJson] = useState("{\n  \n}");
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});

  const chooseConnector = (next: string) => {
    setConnectorId(next);
    const nextForm = formOf(connectors.find((c) => c.id === next)?.schema);
    const first = nextForm.kind === "variants" ? nextForm.variants[0] : undefined;
    setVariant(first?.value ?? "");
    setValues(initialValues(nextForm.kind === "fields" ? nextForm.fields : (first?.fields ?? [])));
    setFieldErrors({});
  };

  const chooseVariant = (next: string) => {
    setVariant(next);
    if (form.kind === "variants") {
      // keep what was typed in fields the two variants share
      const nextFields = form.variants.find((v) => v.value === next)?.fields ?? [];
      setValues((before) => ({ ...initialValues(nextFields), ...pick(before, nextFields) }));
    }
    setFieldErrors({});
  };

  const save = async (data: Record<string, unknown>) => {
    try {
      const saved = await put<Credential>(`/api/v1/credentials/${encodeURIComponent(id.trim())}`, {
        connector: connectorId,
        data,
      });
      onSaved(saved);
      onClose();
    } catch (err) {
      if (err instanceof ApiError) {
        const named: Record<string, string> = {};
        for (const detail of err.details) {
          const name = dataField(
            detail.field,
            detail.message,
            fields.map((f) => f.name),
          );
          if (name) named[name] = detail.message;
        }
        setFieldErrors(named);
      }
      throw err;
    }
  };

  const submit = () => {
    let data: Record<string, unknown>;
    if (form.kind === "json") {
      try {
        const parsed: unknown = JSON.parse(json);
        if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("give a JSON object");
        data = parsed as Record<string, unknown>;
      } catch (err) {
        setFieldErrors({ json: err instanceof Error ? err.message : String(err) });
        return null;
      }
    } else {
      const fixed = form.kind === "variants" ? { [form.discriminator]: variant } : form.fixed;
      const built = buildData(fields, values, fixed);
      if (!built.ok) {
        setFieldErrors(built.errors);
        return null;
      }
      data = built.data;
    }
    setFieldErrors({});
    return save(data);
  };

  return (
    <Modal title={editing ? `Replace the secret of ${editing.id}` : "New credential"} onClose={onClose} wide>
      <DialogForm
        onSubmit={submit}
        onCancel={onClose}
        submitLabel={editing ? "Replace secret" : "Save credential"}
        disabled={!connectorId}
        autoComplete="off"
      >
        <p className="notice" role="note">
          {editing
            ? "Secrets are never shown back, so this form starts empty: enter the whole credential again to replace it. Nothing changes until you save."
            : "The secret is sealed on the server and never shown back, not even to you."}
        </p>
        <div className="two-columns">
          <Field label="Connector">
            {(control) => (
              <select {...control}
                value={connectorId}
                onChange={(e) => chooseConnector(e.target.value)}
                disabled={Boolean(editing)}
                required
              >
                {editing && !connector && <option value={editing.connector}>{editing.connector}</option>}
                {connectors.map((c) => (
                  <option key={c.id} value={c.id}>
                    {c.name} ({c.id})
                  </option>
                ))}
              </select>
            )}
          </Field>
          <Field label="Credential id" hint="Nodes name it by this id (their “credential”).">
            {(control) => (
              <input
                {...control}
                className="mono"
                value={id}
                onChange={(e) => setId(e.target.value)}
                readOnly={Boolean(editing)}
                required
                maxLength={200}
                pattern={ID_PATTERN}
                title="Letters, digits and . _ : - (starting with a letter or digit)"
                placeholder="e.g. github-token"
              />
            )}
          </Field>
        </div>
        {form.kind === "variants" && (
          <Field label="Credential type">
            {(control) => (
              <select {...control} value={variant} onChange={(e) => chooseVariant(e.target.value)}>
                {form.variants.map((v) => (
                  <option key={v.value} value={v.value}>
                    {v.label}
                  </option>
                ))}
              </select>
            )}
          </Field>
        )}
        {form.kind === "json" ? (
          <Field
            label="Credential data (JSON)"
            hint={connector ? "This connector's credential is not a simple form: write it as JSON." : "Write it as JSON."}
            error={fieldErrors.json ? `Not valid: ${fieldErrors.json}` : null}
          >
            {(control) => (
              <textarea {...control} rows={8} value={json} onChange={(e) => setJson(e.target.value)} spellCheck={false} />
            )}
          </Field>
        ) : (
          fields.map((field) => (
            <SchemaField
              key={`${variant}/${field.name}`}
              field={field}
              value={values[field.name]}
              error={fieldErrors[field.name]}
              onChange={(value) => setValues((before) => ({ ...before, [field.name]: value }))}
            />
          ))
        )}
      </DialogForm>
    </Modal>
  );
}

function pick(values: FormValues, fields: FormField[]): FormValues {
  const kept: FormValues = {};
  for (const field of fields) {
    const value = values[field.name];
    if (value !== undefined && value !== "") kept[field.name] = value;
  }
  return kept;
}
