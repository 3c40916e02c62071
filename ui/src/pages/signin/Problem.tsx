// A sign-in error: a plain sentence, or the server's message with the fields it names.
import { ErrorBox } from "../../ui/ErrorBox";
import { signInProblem, type SignInMethod } from "./messages";

export function Problem({ error, method }: { error: unknown; method: SignInMethod }) {
  if (!error) return null;
  const sentence = signInProblem(error, method);
  if (sentence === null) return <ErrorBox error={error} />;
  return (
    <div className="error-box" role="alert">
      {sentence}
    </div>
  );
}
