// The admin application: resources, the pages that are not resources, and access control.
import { useEffect, useState } from 'react';
import { Admin, CustomRoutes, Resource } from 'react-admin';
import { Route } from 'react-router-dom';
import PeopleIcon from '@mui/icons-material/People';
import SecurityIcon from '@mui/icons-material/Security';
import KeyIcon from '@mui/icons-material/Key';
import HistoryIcon from '@mui/icons-material/History';
import { authProvider } from './authProvider.js';
import { buildDataProvider } from './dataProvider.js';
import { AdminLayout } from './layout.jsx';
import { LoginPage } from './login.jsx';
import { UserCreate, UserEdit, UserList } from './users.jsx';
import { RoleCreate, RoleEdit, RoleList } from './roles.jsx';
import { PermissionList } from './permissions.jsx';
import { AuditList, AuditShow } from './audit.jsx';
import { StatusPage } from './status.jsx';
import { ProfilePage } from './profile.jsx';

export function App() {
  const [dataProvider, setDataProvider] = useState(null);
  const [failure, setFailure] = useState(null);
  useEffect(() => {
    buildDataProvider().then((p) => setDataProvider(() => p), setFailure);
  }, []);
  if (failure) return <p role="alert">The admin UI could not start: {String(failure.message ?? failure)}</p>;
  if (!dataProvider) return null;
  return (
    <Admin
      title="adminql"
      dataProvider={dataProvider}
      authProvider={authProvider}
      loginPage={LoginPage}
      layout={AdminLayout}
      requireAuth
      disableTelemetry
    >
      <Resource name="User" options={{ label: 'Users' }} icon={PeopleIcon} list={UserList} create={UserCreate} edit={UserEdit} recordRepresentation="email" />
      <Resource name="Role" options={{ label: 'Roles' }} icon={SecurityIcon} list={RoleList} create={RoleCreate} edit={RoleEdit} recordRepresentation="name" />
      <Resource name="Permission" options={{ label: 'Permissions' }} icon={KeyIcon} list={PermissionList} recordRepresentation="code" />
      <Resource name="AuditLog" options={{ label: 'Audit log' }} icon={HistoryIcon} list={AuditList} show={AuditShow} />
      <CustomRoutes>
        <Route path="/status" element={<StatusPage />} />
        <Route path="/profile" element={<ProfilePage />} />
      </CustomRoutes>
    </Admin>
  );
}
