// Routes. The canvas pages (React Flow, elkjs) load on demand so the first load stays small.
import { lazy, Suspense, useEffect } from "react";
import { BrowserRouter, Navigate, Outlet, Route, Routes, useLocation } from "react-router";
import { Layout } from "./ui/Layout";
import { isSignedIn, useSession } from "./store/session";
import { SignIn } from "./pages/SignIn";
import { WorkflowList } from "./pages/WorkflowList";
import { ExecutionList } from "./pages/ExecutionList";
import { Credentials } from "./pages/settings/Credentials";
import { ApiKeys } from "./pages/settings/ApiKeys";
import { Members } from "./pages/settings/Members";
import { WorkflowSettings } from "./pages/WorkflowSettings";

const Editor = lazy(() => import("./editor/EditorPage"));
const ExecutionView = lazy(() => import("./runs/ExecutionView"));

function RequireSignIn() {
  const signedIn = useSession(isSignedIn);
  const location = useLocation();
  if (!signedIn) return <Navigate to="/signin" replace state={{ from: location.pathname }} />;
  return <Outlet />;
}

function Loading() {
  return (
    <div className="loading" role="status">
      Loading…
    </div>
  );
}

export function App() {
  const theme = useSession((s) => s.theme);
  useEffect(() => {
    document.documentElement.dataset.theme = theme;
  }, [theme]);
  return (
    <BrowserRouter>
      <Suspense fallback={<Loading />}>
        <Routes>
          <Route path="/signin" element={<SignIn />} />
          <Route element={<RequireSignIn />}>
            <Route element={<Layout />}>
              <Route index element={<Navigate to="/workflows" replace />} />
              <Route path="/workflows" element={<WorkflowList />} />
              <Route path="/workflows/:workflowId" element={<Editor />} />
              <Route path="/workflows/:workflowId/settings" element={<WorkflowSettings />} />
              <Route path="/executions" element={<ExecutionList />} />
              <Route path="/executions/:executionId" element={<ExecutionView />} />
              <Route path="/settings/credentials" element={<Credentials />} />
              <Route path="/settings/api-keys" element={<ApiKeys />} />
              <Route path="/settings/members" element={<Members />} />
              <Route path="*" element={<Navigate to="/workflows" replace />} />
            </Route>
          </Route>
        </Routes>
      </Suspense>
    </BrowserRouter>
  );
}
