// Change password, from the profile menu. The API ends every older session; the new one it
// returns replaces ours, so the user stays signed in here.
import { Form, PasswordInput, SaveButton, Title, required, useNotify } from 'react-admin';
import { Card, CardContent, Typography } from '@mui/material';
import { useReadOnly } from './readOnly.js';
import { changePassword } from './session.js';

export const ProfilePage = () => {
  const notify = useNotify();
  const readOnly = useReadOnly();
  const submit = async ({ currentPassword, newPassword, confirm }) => {
    if (newPassword !== confirm) return { confirm: 'The passwords differ' };
    try {
      await changePassword(currentPassword, newPassword);
      notify('Password changed. Your other sessions have been signed out.', { type: 'success' });
      return undefined;
    } catch (e) {
      notify(e.message, { type: 'error' });
      const field = e.body?.errors ?? {};
      return field.newPassword || field.currentPassword ? field : undefined;
    }
  };
  return (
    <Card sx={{ mt: 1, maxWidth: 480 }}>
      <Title title="Change password" />
      <CardContent>
        <Typography variant="h6" gutterBottom>
          Change password
        </Typography>
        <Form onSubmit={submit}>
          <PasswordInput source="currentPassword" label="Current password" validate={required()} autoComplete="current-password" fullWidth />
          <PasswordInput source="newPassword" label="New password" validate={required()} autoComplete="new-password" fullWidth />
          <PasswordInput source="confirm" label="New password again" validate={required()} autoComplete="new-password" fullWidth />
          <SaveButton label="Change password" disabled={readOnly} alwaysEnable={!readOnly} />
        </Form>
      </CardContent>
    </Card>
  );
};
