// The roles a member may be given, as a select's options: "owner" only for who may make one.
import { ROLES } from "../common/permissions";

export function RoleOptions({ ownerBlocked }: { ownerBlocked: string | null }) {
  return ROLES.map((role) => (
    <option key={role} value={role} disabled={role === "owner" && Boolean(ownerBlocked)}>
      {role}
    </option>
  ));
}
