// Permissions: the catalogue, read-only (codes are fixed by the migrations).
import { Datagrid, List, SearchInput, TextField } from 'react-admin';

export const PermissionList = () => (
  <List filters={[<SearchInput key="q" source="q" alwaysOn />]} actions={false} sort={{ field: 'code', order: 'ASC' }} perPage={50}>
    <Datagrid rowClick={false} bulkActionButtons={false}>
      <TextField source="code" />
      <TextField source="description" />
    </Datagrid>
  </List>
);
