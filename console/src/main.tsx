import type { JSX } from 'preact';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { session, setSession, whenSignedOut, type Session } from './api.js';
import { DevicePage } from './pages/device.js';
import { DevicesPage } from './pages/devices.js';
import { OverviewPage } from './pages/overview.js';
import { RegistriesPage } from './pages/registries.js';
import { SignIn } from './pages/sign-in.js';
import { TelemetryPage } from './pages/telemetry.js';
import { Link, routeSegments, useRoute } from './ui.js';
import './style.css';

function Page(): JSX.Element {
  const { path, query } = useRoute();
  // undefined for a malformed segment (`%zz`): it names no page, so the not-found one below.
  const segments = routeSegments(path);
  const parts = segments ?? [];
  // Resource names are paths: projects/p/locations/l/registries/r[/devices/d].
  if (parts[0] === 'projects' && parts[2] === 'locations' && parts[4] === 'registries' && parts[5]) {
    const registry = parts.slice(0, 6).join('/');
    if (parts[6] === 'devices' && parts[7]) return <DevicePage key={path} deviceName={`${registry}/devices/${parts[7]}`} />;
    return <DevicesPage key={path} registryName={registry} />;
  }
  if (parts[0] === 'registries') return <RegistriesPage />;
  if (parts[0] === 'telemetry') return <TelemetryPage topic={query.get('topic') ?? ''} />;
  if (segments?.length === 0) return <OverviewPage />;
  return (
    <main id="main">
      <h1>Not found</h1>
      <p>
        The console has no page at {path}. <Link href="/">Overview</Link>
      </p>
    </main>
  );
}

function App(): JSX.Element {
  const [current, setCurrent] = useState<Session | undefined>(session());
  const [reason, setReason] = useState<string | undefined>();
  useEffect(() => {
    whenSignedOut(() => {
      setReason('The server no longer accepts the token (expired or revoked): sign in again.');
      setCurrent(undefined);
    });
  }, []);
  if (!current) {
    return (
      <SignIn
        reason={reason}
        onSignedIn={(s) => {
          setReason(undefined);
          setCurrent(s);
        }}
      />
    );
  }
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <span class="brand">Bridgehead</span>
        <nav aria-label="Main">
          <Link href="/">Overview</Link>
          <Link href="/registries">Registries</Link>
          <Link href="/telemetry">Telemetry</Link>
        </nav>
        <span class="who">
          {current.project} · {current.location} · {current.who}
        </span>
        <button
          type="button"
          onClick={() => {
            setSession(undefined);
            setCurrent(undefined);
          }}
        >
          Sign out
        </button>
      </header>
      <Page />
    </>
  );
}

render(<App />, document.getElementById('app')!);
