// System status: the primary, the replicas in rotation and their lag (systemStatus), and the
// connection pools (/ready), refreshed every few seconds.
import { useEffect, useState } from 'react';
import { Title } from 'react-admin';
import { Alert, Card, CardContent, Chip, Table, TableBody, TableCell, TableHead, TableRow, Typography } from '@mui/material';
import { STATUS_QUERY } from './layout.jsx';
import { setReadOnly } from './readOnly.js';
import { gql } from './session.js';

const POLL_MS = 3000;

const yes = (ok, good = 'yes', bad = 'no') => <Chip size="small" color={ok ? 'success' : 'error'} label={ok ? good : bad} />;

export const StatusPage = () => {
  const [status, setStatus] = useState(null);
  const [ready, setReady] = useState(null);
  const [error, setError] = useState(null);
  const [refreshedAt, setRefreshedAt] = useState(null);
  useEffect(() => {
    let stop = false;
    const poll = async () => {
      try {
        const data = await gql(STATUS_QUERY);
        if (stop) return;
        setStatus(data.systemStatus);
        setReadOnly(data.systemStatus.readOnly);
        setError(null);
      } catch (e) {
        if (!stop) setError(e.message);
      }
      const r = await fetch('/ready', { headers: { Accept: 'application/json' } }).then((x) => x.json()).catch(() => null);
      if (stop) return;
      setReady(r);
      setRefreshedAt(new Date());
    };
    poll();
    const id = setInterval(poll, POLL_MS);
    return () => {
      stop = true;
      clearInterval(id);
    };
  }, []);
  return (
    <Card sx={{ mt: 1 }}>
      <Title title="System status" />
      <CardContent>
        {error && <Alert severity="error">{error}</Alert>}
        {refreshedAt && (
          <Typography variant="caption" color="text.secondary" component="p" sx={{ mb: 1 }} data-testid="status-updated">
            Refreshed every {POLL_MS / 1000} s; last at {refreshedAt.toLocaleTimeString()}
          </Typography>
        )}
        {status && (
          <>
            <Typography variant="h6">Database</Typography>
            <Table size="small" sx={{ mb: 2, maxWidth: 640 }}>
              <TableBody>
                <TableRow>
                  <TableCell>Writes</TableCell>
                  <TableCell data-testid="status-read-only">{status.readOnly ? yes(false, '', 'read-only mode') : yes(true, 'accepted')}</TableCell>
                </TableRow>
                <TableRow>
                  <TableCell>Primary</TableCell>
                  <TableCell>{yes(status.primary.healthy, 'healthy', 'down')}</TableCell>
                </TableRow>
              </TableBody>
            </Table>
            <Typography variant="h6">Replicas</Typography>
            {status.replicas.length === 0 ? (
              <Typography variant="body2" sx={{ mb: 2 }}>None configured: reads go to the primary.</Typography>
            ) : (
              <Table size="small" sx={{ mb: 2 }} data-testid="replicas">
                <TableHead>
                  <TableRow>
                    <TableCell>Name</TableCell>
                    <TableCell>Healthy</TableCell>
                    <TableCell>In rotation</TableCell>
                    <TableCell>Lag</TableCell>
                  </TableRow>
                </TableHead>
                <TableBody>
                  {status.replicas.map((r) => (
                    <TableRow key={r.name}>
                      <TableCell>{r.name}</TableCell>
                      <TableCell>{yes(r.healthy)}</TableCell>
                      <TableCell data-testid="replica-in-rotation">{yes(r.inRotation)}</TableCell>
                      <TableCell data-testid="replica-lag">{r.lagSeconds == null ? 'unknown' : `${r.lagSeconds.toFixed(1)} s`}</TableCell>
                    </TableRow>
                  ))}
                </TableBody>
              </Table>
            )}
          </>
        )}
        {ready?.pools && (
          <>
            <Typography variant="h6">Connection pools</Typography>
            <Table size="small" data-testid="pools">
              <TableHead>
                <TableRow>
                  <TableCell>Pool</TableCell>
                  <TableCell>Role</TableCell>
                  <TableCell>Open</TableCell>
                  <TableCell>Idle</TableCell>
                  <TableCell>Max</TableCell>
                  <TableCell>Waiting</TableCell>
                </TableRow>
              </TableHead>
              <TableBody>
                {ready.pools.map((p) => (
                  <TableRow key={p.name}>
                    <TableCell>{p.name}</TableCell>
                    <TableCell>{p.role}</TableCell>
                    <TableCell>{p.size}</TableCell>
                    <TableCell>{p.available}</TableCell>
                    <TableCell>{p.max_size}</TableCell>
                    <TableCell>{p.waiting}</TableCell>
                  </TableRow>
                ))}
              </TableBody>
            </Table>
          </>
        )}
      </CardContent>
    </Card>
  );
};
