// The sign-in page: email and password for `login`, and why the last session ended.
import { useState } from 'react';
import { Form, PasswordInput, TextInput, required, useLogin, useNotify } from 'react-admin';
import { Alert, Box, Button, Card, CardContent, Typography } from '@mui/material';
import { signedOutReason } from './session.js';

export const LoginPage = () => {
  const login = useLogin();
  const notify = useNotify();
  const [reason] = useState(signedOutReason);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = ({ email, password }) => {
    setBusy(true);
    setError(null);
    login({ username: email, password }).catch((e) => {
      setBusy(false);
      setError(e.message);
      notify(e.message, { type: 'error' });
    });
  };
  return (
    <Box sx={{ minHeight: '100vh', display: 'flex', alignItems: 'center', justifyContent: 'center', bgcolor: '#eef1f5' }}>
      <Card sx={{ width: 380 }}>
        <CardContent>
          <Typography variant="h5" component="h1" gutterBottom>
            adminql
          </Typography>
          <Typography variant="body2" color="text.secondary" gutterBottom>
            Sign in to manage users, roles and permissions.
          </Typography>
          {reason && (
            <Alert severity="info" data-testid="signed-out-reason" sx={{ my: 1 }}>
              {reason}
            </Alert>
          )}
          {error && (
            <Alert severity="error" data-testid="login-error" sx={{ my: 1 }}>
              {error}
            </Alert>
          )}
          <Form onSubmit={submit}>
            <TextInput source="email" type="email" autoComplete="username" validate={required()} fullWidth />
            <PasswordInput source="password" autoComplete="current-password" validate={required()} fullWidth />
            <Button type="submit" variant="contained" fullWidth disabled={busy}>
              Sign in
            </Button>
          </Form>
        </CardContent>
      </Card>
    </Box>
  );
};
