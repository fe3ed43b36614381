// Roles: list with their members, create/edit with a permission checklist grouped by the
// resource each permission is about.
import {
  ChipField, Create, Datagrid, DateField, Edit, FunctionField, List, ReferenceManyField, SearchInput,
  SimpleForm, TextField, TextInput, required, useGetList, useInput, useListContext, BulkDeleteButton,
} from 'react-admin';
import { Box, Checkbox, FormControlLabel, FormGroup, FormLabel, Paper, Typography } from '@mui/material';
import { FormToolbar, ListActions, useCanWrite } from './forms.jsx';

export const RoleList = () => {
  const canWrite = useCanWrite();
  return (
    <List filters={[<SearchInput key="q" source="q" alwaysOn />]} actions={<ListActions />} sort={{ field: 'name', order: 'ASC' }}>
      <Datagrid rowClick={canWrite ? 'edit' : false} bulkActionButtons={canWrite ? <BulkDeleteButton mutationMode="pessimistic" /> : false}>
        <TextField source="name" />
        <TextField source="description" />
        <FunctionField source="permissionsIds" label="Permissions" sortable={false} render={(r) => r.permissionsIds?.length ?? 0} />
        <ReferenceManyField label="Members" reference="User" target="role_id" perPage={5} sortable={false}>
          <MemberChips />
        </ReferenceManyField>
        <DateField source="updatedAt" label="Updated" />
      </Datagrid>
    </List>
  );
};

const MemberChips = () => {
  const { data = [], total } = useListContext();
  return (
    <Box sx={{ display: 'flex', gap: 0.5, flexWrap: 'wrap' }}>
      {data.map((u) => (
        <ChipField key={u.id} record={u} source="email" size="small" />
      ))}
      {total > data.length && <Typography variant="caption">+{total - data.length} more</Typography>}
    </Box>
  );
};

/** The permission codes, one group of checkboxes per resource (`user:read` goes under "user"). */
const PermissionChecklist = () => {
  const { field } = useInput({ source: 'permissionsIds', defaultValue: [] });
  const { data = [], isPending } = useGetList('Permission', { pagination: { page: 1, perPage: 100 }, sort: { field: 'code', order: 'ASC' } });
  if (isPending) return null;
  const groups = {};
  for (const p of data) (groups[p.code.split(':')[0]] ??= []).push(p);
  const chosen = new Set((field.value ?? []).map(String));
  const toggle = (id) => {
    const next = new Set(chosen);
    next.has(id) ? next.delete(id) : next.add(id);
    field.onChange([...next]);
  };
  return (
    <Box sx={{ mb: 2 }}>
      <FormLabel component="legend">Permissions</FormLabel>
      <Box sx={{ display: 'flex', gap: 2, flexWrap: 'wrap', mt: 1 }}>
        {Object.entries(groups).map(([resource, perms]) => (
          <Paper key={resource} variant="outlined" sx={{ p: 1.5, minWidth: 200 }} data-testid={`permissions-${resource}`}>
            <Typography variant="subtitle2" sx={{ textTransform: 'capitalize' }}>
              {resource}
            </Typography>
            <FormGroup>
              {perms.map((p) => (
                <FormControlLabel
                  key={p.id}
                  control={<Checkbox size="small" checked={chosen.has(String(p.id))} onChange={() => toggle(String(p.id))} />}
                  label={
                    <span title={p.description}>
                      {p.code} <Typography component="span" variant="caption" color="text.secondary">{p.description}</Typography>
                    </span>
                  }
                />
              ))}
            </FormGroup>
          </Paper>
        ))}
      </Box>
    </Box>
  );
};

const RoleFields = () => (
  <>
    <TextInput source="name" validate={required()} fullWidth />
    <TextInput source="description" fullWidth />
    <PermissionChecklist />
  </>
);

export const RoleCreate = () => (
  <Create redirect="list">
    <SimpleForm toolbar={<FormToolbar deletable={false} />} defaultValues={{ permissionsIds: [] }}>
      <RoleFields />
    </SimpleForm>
  </Create>
);

export const RoleEdit = () => (
  <Edit mutationMode="pessimistic" redirect="list">
    <SimpleForm toolbar={<FormToolbar />}>
      <RoleFields />
      <Typography variant="subtitle2" sx={{ mt: 1 }}>
        Members
      </Typography>
      <ReferenceManyField reference="User" target="role_id" perPage={50} sort={{ field: 'email', order: 'ASC' }}>
        <Datagrid bulkActionButtons={false} rowClick={false}>
          <TextField source="email" />
          <TextField source="name" />
        </Datagrid>
      </ReferenceManyField>
    </SimpleForm>
  </Edit>
);
