// The page frame: the menu (only what the user may open), the profile menu, and the
// read-only banner, kept up to date by polling systemStatus.
import { useEffect } from 'react';
import { AppBar, Layout, Logout, Menu, UserMenu, useCanAccess, useUserMenu } from 'react-admin';
import { Link } from 'react-router-dom';
import { Alert, ListItemIcon, ListItemText, MenuItem } from '@mui/material';
import LockResetIcon from '@mui/icons-material/LockReset';
import MonitorHeartIcon from '@mui/icons-material/MonitorHeart';
import { setReadOnly, useReadOnly } from './readOnly.js';
import { gql } from './session.js';

const ChangePasswordItem = () => {
  const { onClose } = useUserMenu() ?? {};
  return (
    <MenuItem component={Link} to="/profile" onClick={onClose}>
      <ListItemIcon>
        <LockResetIcon fontSize="small" />
      </ListItemIcon>
      <ListItemText>Change password</ListItemText>
    </MenuItem>
  );
};

const AdminUserMenu = () => (
  <UserMenu>
    <ChangePasswordItem />
    <Logout />
  </UserMenu>
);

const AdminAppBar = () => <AppBar userMenu={<AdminUserMenu />} />;

const AdminMenu = () => {
  const { canAccess } = useCanAccess({ resource: 'status', action: 'list' });
  return (
    <Menu>
      <Menu.ResourceItems />
      {canAccess && <Menu.Item to="/status" primaryText="System status" leftIcon={<MonitorHeartIcon />} />}
    </Menu>
  );
};

export const STATUS_QUERY = 'query Status { systemStatus { readOnly primary { healthy } replicas { name healthy inRotation lagSeconds } } }';

function useReadOnlyPolling() {
  const { canAccess } = useCanAccess({ resource: 'status', action: 'list' });
  useEffect(() => {
    if (!canAccess) return undefined;
    let stop = false;
    const poll = () =>
      gql(STATUS_QUERY)
        .then((d) => !stop && setReadOnly(d.systemStatus.readOnly))
        .catch(() => {});
    poll();
    const id = setInterval(poll, 3000);
    return () => {
      stop = true;
      clearInterval(id);
    };
  }, [canAccess]);
}

export const ReadOnlyBanner = () => {
  const readOnly = useReadOnly();
  if (!readOnly) return null;
  return (
    <Alert severity="warning" data-testid="read-only-banner" sx={{ mb: 1 }}>
      Read-only mode: the primary database is unavailable. You can browse, but changes cannot be saved until it is back.
    </Alert>
  );
};

export const AdminLayout = ({ children }) => {
  useReadOnlyPolling();
  return (
    <Layout appBar={AdminAppBar} menu={AdminMenu}>
      <ReadOnlyBanner />
      {children}
    </Layout>
  );
};
